// Who is here now: the host, co-hosts, members, listeners (badges), the speaker devices and Spotify
// followers marked. A host or co-host changes another person's role, removes them, and the host hands
// the room over ("Make host"), each from one compact menu per person (HTTP; the room's events redraw).

import { api, errorMessage } from "../api.js";
import { $, h } from "../dom.js";
import { isMine, roleLabel } from "../reducer.js";
import { peopleOrder, personActions } from "../roles.js";

const BADGE_CLASS = { Host: "host-badge", "Co-host": "cohost-badge", Listener: "listener-badge" };

let drawn = null; // what the list shows now: redrawn only when it changes, so an open menu stays open

export function renderPeople(room, { groupId, token } = {}) {
  const people = peopleOrder(room).map((m) => ({
    m,
    label: roleLabel(room, m),
    actions: groupId ? personActions(room, m) : [],
    speaker: room.speakers.some((s) => s.user_id === m.user_id),
    spotify: room.followers.includes(m.user_id),
    me: isMine(room, m.user_id),
  }));
  const key = JSON.stringify(people);
  if (key === drawn) return;
  drawn = key;
  $("people").replaceChildren(
    ...people.map(({ m, label, actions, speaker, spotify, me }) => {
      return h(
        "li",
        { class: `person${me ? " me" : ""}`, "data-user": m.user_id },
        h("span", { class: "avatar", "aria-hidden": "true" }, (m.name.trim()[0] || "?").toUpperCase()),
        h("span", { class: "person-name" }, m.name),
        label ? h("span", { class: `badge role-badge ${BADGE_CLASS[label]}` }, label) : null,
        speaker ? h("span", { class: "badge speaker-badge" }, "speaker") : null,
        spotify ? h("span", { class: "badge spotify-badge" }, "on Spotify") : null,
        me ? h("span", { class: "badge you-badge" }, "you") : null,
        actions.length ? actionMenu(m, actions, groupId, token) : null,
      );
    }),
  );
  $("people").classList.toggle("managed", people.some((p) => p.actions.length > 0));
  $("people-count").textContent = `(${Math.max(room.memberCount, people.length)})`;
  const unlisted = room.memberCount - people.length;
  $("people-more").hidden = unlisted <= 0;
  $("people-more").textContent = unlisted > 0 ? `and ${unlisted} more in the room` : "";
}

/** One <select> per person: a native menu (big targets on a phone, the keyboard for free). */
function actionMenu(member, actions, groupId, token) {
  const group = `/api/groups/${encodeURIComponent(groupId)}`;
  const memberPath = `${group}/members/${encodeURIComponent(member.user_id)}`;
  const requests = {
    admin: ["PATCH", memberPath, { role: "admin" }, `make ${member.name} a co-host`],
    member: ["PATCH", memberPath, { role: "member" }, `make ${member.name} a member`],
    listener: ["PATCH", memberPath, { role: "listener" }, `make ${member.name} a listener`],
    host: ["POST", `${group}/host`, { user_id: member.user_id }, `make ${member.name} the host`],
    remove: ["DELETE", memberPath, undefined, `remove ${member.name}`],
  };
  const select = h(
    "select",
    { class: "person-menu", "aria-label": `Actions for ${member.name}` },
    h("option", { value: "", selected: true, hidden: true }, "Change…"),
    ...actions.map((a) => h("option", { value: a.action }, a.label)),
  );
  select.addEventListener("change", async () => {
    const [method, path, body, what] = requests[select.value] || [];
    select.value = "";
    if (!method) return;
    $("people-error").textContent = "";
    select.disabled = true;
    try {
      const result = await api(method, path, { body, token });
      if (result.status >= 300) $("people-error").textContent = errorMessage(result, `Could not ${what}.`);
    } catch {
      $("people-error").textContent = "No connection to the server.";
    } finally {
      select.disabled = false;
    }
  });
  return h("span", { class: "person-actions" }, select);
}
