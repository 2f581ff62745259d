// The big screen (/groups/{id}/screen), for a laptop on a TV or a projector: the QR code and the
// short code in large, now playing with artwork and progress, up next, the last reactions. It can
// be the room's speaker (speaker mode, this device marked), and then plays the room itself.

import { monotonicNow } from "./clock.js";
import { spacedCode } from "./codes.js";
import { Conductor } from "./conductor.js";
import { $, h, show } from "./dom.js";
import { formatTime, splitTitle } from "./format.js";
import { currentTrack, isHost, isSpeaker, lastReactions, queueOver, upNext } from "./reducer.js";
import { deviceId, listensHere, loadSession } from "./session.js";
import { RoomConnection } from "./socket.js";
import { positionAt } from "./sync.js";
import { trackChangeText } from "./announce.js";
import { inviteQrBlob, liveInvite, onExpiry } from "./views/invite.js";
import { setArtwork } from "./views/now.js";

const QR_SIZE = 12;

function fatal(title, text) {
  $("fatal-title").textContent = title;
  $("fatal-text").textContent = text;
  show($("fatal"), true);
}

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status-text").textContent = text;
}

function renderNow(room, serverNow) {
  const track = currentTrack(room);
  const over = queueOver(room);
  const parts = track && !over ? splitTitle(track) : null;
  $("screen-title-text").textContent = over ? "That was the last song" : parts ? parts.title : "Nothing yet";
  $("screen-artist").textContent = over ? "Add a song from your phone to keep going." : parts ? parts.artist : "Scan the code and add the first song.";
  $("screen-added").textContent = track && !over ? `added by ${track.added_by_name}` : "";
  setArtwork($("screen-art"), over ? null : track);
  show($("screen-art-empty"), $("screen-art").hidden);
  const duration = track && !over ? track.duration_s * 1000 : 0;
  const position = duration ? positionAt(room.playback, serverNow, duration) : 0;
  $("screen-progress-fill").style.width = `${duration ? ((position / duration) * 100).toFixed(2) : 0}%`;
  $("screen-progress").setAttribute("aria-valuemax", String(Math.round(duration / 1000)));
  $("screen-progress").setAttribute("aria-valuenow", String(Math.round(position / 1000)));
  $("screen-time-now").textContent = formatTime(position);
  $("screen-time-total").textContent = formatTime(duration);
}

function renderNext(room) {
  const next = upNext(room, 4);
  $("screen-next").replaceChildren(
    ...next.map((t) => h("li", { class: "screen-next-item" }, h("span", { class: "screen-next-title" }, t.title), h("span", { class: "muted" }, ` · ${t.added_by_name}`))),
  );
  show($("screen-next-empty"), next.length === 0);
}

function renderReactions(room) {
  $("screen-reactions").replaceChildren(
    ...lastReactions(room, 10).map((r) => h("li", { class: "screen-reaction" }, h("span", { class: "screen-emoji", "aria-hidden": "true" }, r.text), h("span", { class: "screen-reaction-name" }, r.name))),
  );
}

class ScreenInvite {
  constructor(groupId, token) {
    this.groupId = groupId;
    this.token = token;
    this.invite = undefined;
    this.qrUrl = null;
  }

  async show(given) {
    if (given === this.given) return;
    this.given = given;
    const invite = liveInvite(given);
    clearTimeout(this.expiryTimer);
    this.expiryTimer = onExpiry(invite, () => {
      this.given = undefined;
      this.show(null);
    });
    this.invite = invite;
    show($("screen-no-invite"), !invite);
    show($("screen-code-line"), Boolean(invite && invite.code));
    $("screen-code").textContent = invite && invite.code ? spacedCode(invite.code) : "";
    $("screen-host").textContent = invite ? new URL(invite.url).host : location.host;
    $("screen-url").textContent = invite ? invite.url : "";
    if (!invite) {
      show($("screen-qr"), false);
      return;
    }
    try {
      const url = await inviteQrBlob(this.groupId, this.token, invite, QR_SIZE);
      if (this.invite !== invite) return URL.revokeObjectURL(url);
      if (this.qrUrl) URL.revokeObjectURL(this.qrUrl);
      this.qrUrl = url;
      $("screen-qr").src = url;
      show($("screen-qr"), true);
    } catch {
      show($("screen-qr"), false);
    }
  }

  /** A server without the invite in its snapshot: ask over HTTP. */
  async load() {
    try {
      const response = await fetch(`/api/groups/${encodeURIComponent(this.groupId)}/invite`, {
        headers: { Authorization: `Bearer ${this.token}`, Accept: "application/json" },
        cache: "no-store",
      });
      await this.show(response.ok ? await response.json() : null);
    } catch {
      /* offline: the status line says so */
    }
  }
}

function main() {
  const groupId = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
  $("room-link").href = `/groups/${encodeURIComponent(groupId)}`;
  const session = loadSession();
  if (!session) {
    setStatus("stopped", "Disconnected");
    fatal("Open the room first", "This browser has not joined the room. Start or join it from the start page.");
    return;
  }
  const invite = new ScreenInvite(groupId, session.token);
  let conductor = null;
  let lastTrackId;
  let noticeTimer = null;
  const connection = new RoomConnection({
    groupId,
    token: session.token,
    deviceId: deviceId(),
    callbacks: {
      onRoom: (room, cause) => onRoom(room, cause),
      onStatus: setStatus,
      onFatal: fatal,
      onNotice: () => {},
      onError: (message) => ($("screen-speaker-note").textContent = message),
      onClock: () => conductor && conductor.clockChanged(),
    },
  });
  conductor = new Conductor({
    mount: $("player-mount"),
    connection,
    listenHere: listensHere(groupId),
    now: monotonicNow,
    onView: (view) => {
      show($("player-area"), view.here);
      $("player-area").dataset.sound = view.tap ? "needs-tap" : view.loading ? "loading" : "allowed";
      show($("tap-overlay"), view.tap);
    },
  });
  $("btn-tap").addEventListener("click", () => conductor.userStart());
  $("btn-fullscreen").addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else document.documentElement.requestFullscreen().catch(() => {});
  });
  $("btn-speaker").addEventListener("click", () => {
    const room = connection.room;
    if (isSpeaker(room)) return connection.send({ type: "unmark_speaker", device_key: room.deviceKey });
    // The screen as the room's one speaker: speaker mode, this device marked; phones become remotes.
    if (room.group && room.group.listening_mode !== "speaker") connection.send({ type: "listening_mode", mode: "speaker" });
    connection.send({ type: "mark_speaker" });
    conductor.userStart(); // the click is the gesture the browser wants before it plays sound
  });

  function onRoom(room, cause) {
    conductor.update(room);
    if (room.group) {
      $("room-name").textContent = room.group.name;
      document.title = `${room.group.name} · Big screen`;
    }
    renderNext(room);
    renderReactions(room);
    renderNow(room, connection.serverNow());
    const speaker = isSpeaker(room);
    show($("btn-speaker"), isHost(room) && Boolean(room.deviceKey));
    $("btn-speaker").textContent = speaker ? "Stop playing on this screen" : "Play the room on this screen";
    $("screen-speaker-note").textContent = speaker ? "This screen is the room's speaker." : room.group && room.group.listening_mode === "speaker" ? "The room plays on its speaker." : "Every phone plays the room.";
    if (room.invite !== undefined) invite.show(room.invite);
    else if (cause.snapshot) invite.load();
    const track = currentTrack(room);
    const id = queueOver(room) ? "over" : track ? track.id : null;
    if (id !== lastTrackId) {
      const first = lastTrackId === undefined;
      lastTrackId = id;
      if (!first) {
        const text = trackChangeText(room, { byVote: Boolean(cause.event && cause.event.cause === "vote") });
        $("announce").textContent = text.spoken;
        $("screen-notice").textContent = text.shown;
        show($("screen-notice"), text.shown !== "");
        clearTimeout(noticeTimer);
        noticeTimer = setTimeout(() => show($("screen-notice"), false), 8000);
      }
    }
  }

  setInterval(() => renderNow(connection.room, connection.serverNow()), 250);
  connection.connect();
}

main();
