// The "Listening" card: this phone's own sound switch, the host's choice of who plays the room
// (every phone, or only its speaker devices), this device as a speaker, and "play on my Spotify".

import { api, errorMessage } from "../api.js";
import { $, h, show } from "../dom.js";
import { followsOnSpotify, isHost, isSpeaker } from "../reducer.js";

export class ListeningCard {
  constructor({ getRoom, send, token, listenHere, onListenHere }) {
    this.getRoom = getRoom;
    this.send = send;
    this.token = token;
    const error = (message) => ($("listening-error").textContent = message);
    $("listen-here").checked = listenHere;
    $("listen-here").addEventListener("change", () => onListenHere($("listen-here").checked));
    for (const radio of document.querySelectorAll("input[name=listening-mode]")) {
      radio.addEventListener("change", () => {
        if (radio.checked) this.send({ type: "listening_mode", mode: radio.value }, { onError: error });
      });
    }
    $("this-speaker").addEventListener("change", () => {
      const room = this.getRoom();
      if ($("this-speaker").checked) this.send({ type: "mark_speaker" }, { onError: error });
      else if (room.deviceKey) this.send({ type: "unmark_speaker", device_key: room.deviceKey }, { onError: error });
    });
    $("follow-spotify").addEventListener("change", () => {
      $("listening-error").textContent = "";
      this.send(
        { type: "follow", following: $("follow-spotify").checked },
        {
          onError: (message, code) => {
            error(message);
            $("follow-spotify").checked = followsOnSpotify(this.getRoom());
            show($("btn-connect-spotify"), code === "reconnect_required");
          },
        },
      );
    });
    $("btn-connect-spotify").addEventListener("click", () => this._connectSpotify());
  }

  /** A notice for this member alone (why "play on my Spotify" switched itself off). */
  notice(frame) {
    $("listening-error").textContent = frame.message;
    show($("btn-connect-spotify"), frame.code === "reconnect_required");
  }

  render(room, { listenHere }) {
    const host = isHost(room);
    const mode = room.group ? room.group.listening_mode : "everyone";
    for (const radio of document.querySelectorAll("input[name=listening-mode]")) radio.checked = radio.value === mode;
    $("listen-here").checked = listenHere;
    $("this-speaker").checked = isSpeaker(room);
    $("this-speaker").disabled = !room.deviceKey;
    $("follow-spotify").checked = followsOnSpotify(room);
    $("listen-note").textContent =
      mode === "speaker"
        ? isSpeaker(room)
          ? "This device is the room's speaker: it plays the room."
          : "The room plays on its speaker; this phone shows what plays and the queue."
        : "Every phone in the room plays it, in sync.";
    const items = room.speakers.map((speaker) =>
      h(
        "li",
        { class: "speaker" },
        h("span", { class: "speaker-name" }, speaker.device_key === room.deviceKey ? "This device" : `${speaker.name}'s device`),
        host
          ? h(
              "button",
              {
                type: "button",
                class: "mini danger",
                "aria-label": `Stop playing the room on ${speaker.name}'s device`,
                onclick: () => this.send({ type: "unmark_speaker", device_key: speaker.device_key }),
              },
              "✕",
            )
          : null,
      ),
    );
    $("speakers").replaceChildren(...items);
    show($("speakers"), host && items.length > 0);
  }

  async _connectSpotify() {
    try {
      const result = await api("GET", "/api/services/spotify/login", { token: this.token });
      if (result.status === 200 && result.data && result.data.authorize_url) {
        window.open(result.data.authorize_url, "_blank", "noopener");
      } else {
        $("listening-error").textContent = errorMessage(result, "Spotify cannot be connected on this server.");
      }
    } catch {
      $("listening-error").textContent = "No connection to the server.";
    }
  }
}
