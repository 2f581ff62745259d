// The chat: the last messages from the snapshot (with their times), then messages and reactions
// as they come; and the reactions bar (the server's fixed set, from the snapshot).

import { $, h, show } from "../dom.js";
import { chatKey, timeOfDay } from "../format.js";

function chatItem(entry, mine) {
  const time = timeOfDay(entry.at);
  return h(
    "li",
    { class: `message${mine ? " mine" : ""}${entry.kind === "reaction" ? " reaction" : ""}` },
    h("span", { class: "message-head" }, h("span", { class: "message-name" }, entry.name), time ? h("time", { class: "message-time", datetime: entry.at }, time) : null),
    h("span", { class: "message-text" }, entry.kind === "reaction" ? `reacted ${entry.text}` : entry.text),
  );
}

/** Appends only the new lines (the log is a live region: re-rendering would read it all out again). */
export class ChatLog {
  constructor({ send, isMine }) {
    this.shown = [];
    this.keys = [];
    this.reactions = null;
    this.send = send;
    this.isMine = isMine;
    $("chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("chat-text");
      const text = input.value.trim();
      if (!text) return;
      $("chat-error").textContent = "";
      send(
        { type: "chat", text },
        { onAck: () => (input.value = ""), onError: (message) => ($("chat-error").textContent = message) },
      );
    });
  }

  render(chat) {
    if (chat === this.shown) return;
    const log = $("chat-log");
    const keys = chat.map(chatKey);
    // The lines already shown are a run of the new list (older ones dropped off the front, new
    // ones after): keep them and append the rest; anything else (a fresh snapshot) redraws.
    const first = this.keys.length ? keys.lastIndexOf(this.keys[this.keys.length - 1], this.keys.length - 1) : -1;
    const dropped = first >= 0 ? this.keys.length - 1 - first : 0;
    const keptKeys = this.keys.slice(dropped);
    const continues = first >= 0 && dropped >= 0 && keptKeys.every((k, i) => keys[i] === k);
    if (continues) {
      for (let i = 0; i < dropped && log.firstElementChild; i += 1) log.firstElementChild.remove();
      log.append(...chat.slice(keptKeys.length).map((e) => chatItem(e, this.isMine(e.user_id))));
    } else {
      log.replaceChildren(...chat.map((e) => chatItem(e, this.isMine(e.user_id))));
    }
    this.shown = chat;
    this.keys = keys;
    show($("chat-empty"), chat.length === 0);
    log.scrollTop = log.scrollHeight;
  }

  /** The reactions bar: one button per emoji of the room's set. */
  renderReactions(reactions) {
    if (reactions === this.reactions) return;
    this.reactions = reactions;
    $("reactions").replaceChildren(
      ...reactions.map((emoji) =>
        h(
          "button",
          {
            type: "button",
            class: "reaction-button",
            "aria-label": `React ${emoji}`,
            onclick: () => this.send({ type: "react", emoji }, { onError: (message) => ($("chat-error").textContent = message) }),
          },
          emoji,
        ),
      ),
    );
  }
}
