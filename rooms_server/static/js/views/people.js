// Who is here now: hosts first, then by name; the speaker devices and Spotify followers marked.

import { $, h } from "../dom.js";
import { isMine } from "../reducer.js";

export function renderPeople(room) {
  const people = room.members
    .slice()
    .sort((a, b) => (a.role === b.role ? a.name.localeCompare(b.name) : a.role === "admin" ? -1 : 1));
  $("people").replaceChildren(
    ...people.map((m) =>
      h(
        "li",
        { class: `person${isMine(room, m.user_id) ? " me" : ""}` },
        h("span", { class: "avatar", "aria-hidden": "true" }, (m.name.trim()[0] || "?").toUpperCase()),
        h("span", { class: "person-name" }, m.name),
        m.role === "admin" ? h("span", { class: "badge" }, "host") : null,
        room.speakers.some((s) => s.user_id === m.user_id) ? h("span", { class: "badge speaker-badge" }, "speaker") : null,
        room.followers.includes(m.user_id) ? h("span", { class: "badge spotify-badge" }, "on Spotify") : null,
        isMine(room, m.user_id) ? h("span", { class: "badge you-badge" }, "you") : null,
      ),
    ),
  );
  $("people-count").textContent = `(${people.length})`;
}
