// The chat: messages and reactions as they come (chat is in no snapshot; a page keeps what it saw).

import { $, h, show } from "../dom.js";

function chatItem(entry, mine) {
  return h(
    "li",
    { class: `message${mine ? " mine" : ""}${entry.kind === "reaction" ? " reaction" : ""}` },
    h("span", { class: "message-name" }, entry.name),
    h("span", { class: "message-text" }, entry.kind === "reaction" ? `reacted ${entry.text}` : entry.text),
  );
}

/** Appends only the new lines (the log is a live region: re-rendering would read it all out again). */
export class ChatLog {
  constructor({ send, isMine }) {
    this.shown = [];
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
    const kept = new Set(chat);
    const seen = new Set(this.shown);
    const dropped = this.shown.filter((entry) => !kept.has(entry)).length;
    for (let i = 0; i < dropped && log.firstElementChild; i += 1) log.firstElementChild.remove();
    log.append(...chat.filter((entry) => !seen.has(entry)).map((e) => chatItem(e, this.isMine(e.user_id))));
    this.shown = chat;
    show($("chat-empty"), chat.length === 0);
    log.scrollTop = log.scrollHeight;
  }
}
