// Who is here now: hosts first, then by name; the speaker devices and Spotify followers marked.
// Hosts promote, demote and remove the others (HTTP; the room's events redraw the list).

import { api, errorMessage } from "../api.js";
import { $, h } from "../dom.js";
import { isHost, isMine } from "../reducer.js";

export function renderPeople(room, { groupId, token } = {}) {
  const host = isHost(room);
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
        host && !isMine(room, m.user_id) && groupId ? memberActions(m, groupId, token) : null,
      ),
    ),
  );
  $("people-count").textContent = `(${people.length})`;
}

function memberActions(member, groupId, token) {
  const path = `/api/groups/${encodeURIComponent(groupId)}/members/${encodeURIComponent(member.user_id)}`;
  const run = async (method, body, what) => {
    $("people-error").textContent = "";
    try {
      const result = await api(method, path, { body, token });
      if (result.status >= 300) $("people-error").textContent = errorMessage(result, `Could not ${what}.`);
    } catch {
      $("people-error").textContent = "No connection to the server.";
    }
  };
  const promote = member.role === "admin";
  return h(
    "span",
    { class: "person-actions" },
    h(
      "button",
      {
        type: "button",
        class: "mini wide",
        "aria-label": promote ? `Demote ${member.name} (no host tools)` : `Make host ${member.name}`,
        onclick: () => run("PATCH", { role: promote ? "member" : "admin" }, promote ? "demote" : "promote"),
      },
      promote ? "Demote" : "Make host",
    ),
    h(
      "button",
      {
        type: "button",
        class: "mini danger",
        "aria-label": `Remove ${member.name} from the room`,
        onclick: () => run("DELETE", undefined, `remove ${member.name}`),
      },
      "✕",
    ),
  );
}
