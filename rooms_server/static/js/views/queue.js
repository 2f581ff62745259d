// The queue: every track with who added it; hosts play, move, remove, shuffle and restore the
// order, members remove their own. Above it, how the queue runs (everyone) and a member's limits.

import { $, h, show } from "../dom.js";
import { artworkUrl, formatTime, safeHref, serviceName } from "../format.js";
import { memberRules, statusLine, upcoming } from "../queue_rules.js";
import { isHost, isMine } from "../reducer.js";

/** The host's Shuffle and Restore order buttons (wired once; renderQueue enables them). */
export function wireQueueTools(send) {
  const error = (message) => ($("queue-error").textContent = message);
  const clear = () => error("");
  $("btn-shuffle").addEventListener("click", () => send({ type: "shuffle" }, { onAck: clear, onError: error }));
  $("btn-unshuffle").addEventListener("click", () => send({ type: "unshuffle" }, { onAck: clear, onError: error }));
}

export function renderQueue(room, send) {
  const items = room.tracks.map((track, i) => queueItem(room, track, i, send));
  $("queue").replaceChildren(...items);
  show($("queue-empty"), room.tracks.length === 0);
  $("queue-count").textContent = room.tracks.length ? `(${room.tracks.length})` : "";
  renderRules(room);
}

function renderRules(room) {
  $("queue-status").textContent = statusLine(room);
  const { limits, note } = memberRules(room);
  $("queue-limits").textContent = limits;
  show($("queue-limits"), limits !== "");
  $("queue-note").textContent = note;
  show($("queue-note"), note !== "");
  const ids = upcoming(room).map((t) => t.id);
  $("btn-shuffle").disabled = ids.length < 2;
  // Restore order puts the upcoming tracks back in the order they were added (their ids grow).
  $("btn-unshuffle").disabled = ids.length < 2 || ids.every((id, i) => i === 0 || ids[i - 1] < id);
}

function queueItem(room, track, i, send) {
  const current = i === room.index;
  const played = i < room.index;
  const host = isHost(room);
  const href = safeHref(track.url);
  const title = href
    ? h("a", { class: "track-title", href, target: "_blank", rel: "noopener noreferrer" }, track.title)
    : h("span", { class: "track-title" }, track.title);
  const meta = h(
    "span",
    { class: "track-meta" },
    `${serviceName(track.service)} · ${formatTime(track.duration_s * 1000)} · added by `,
    h("span", { class: "added-by" }, track.added_by_name),
  );
  const label = track.title.length > 60 ? `${track.title.slice(0, 60)}…` : track.title;
  const button = (text, aria, onclick, extra = {}) =>
    h("button", { type: "button", class: "mini", "aria-label": aria, onclick, ...extra }, text);
  const buttons = [];
  if (host) {
    buttons.push(
      button("▶ Play", `Play ${label} now`, () => send({ type: "jump", track_id: track.id }), {
        class: "mini wide",
        disabled: current,
      }),
      button("↑", `Move ${label} up`, () => move(room, track, -1, send), { disabled: i === 0 }),
      button("↓", `Move ${label} down`, () => move(room, track, +1, send), { disabled: i === room.tracks.length - 1 }),
    );
  }
  if (host || isMine(room, track.added_by)) {
    buttons.push(button("✕", `Remove ${label}`, () => send({ type: "remove", track_id: track.id }), { class: "mini danger" }));
  }
  return h(
    "li",
    {
      class: `track${current ? " current" : ""}${played ? " played" : ""}`,
      "data-track-id": track.id,
      "aria-current": current ? "true" : null,
    },
    h("span", { class: "track-number", "aria-hidden": "true" }, current ? "♪" : String(i + 1)),
    artwork(track),
    h("span", { class: "track-text" }, title, meta),
    buttons.length ? h("span", { class: `track-actions${host ? " below" : ""}` }, buttons) : null,
  );
}

function move(room, track, direction, send) {
  const i = room.tracks.findIndex((t) => t.id === track.id);
  const target = i + direction;
  if (i < 0 || target < 0 || target >= room.tracks.length) return;
  // Commands name tracks, never positions: up = after the track two above; down = after the one below.
  const after = direction < 0 ? (target === 0 ? null : room.tracks[target - 1].id) : room.tracks[target].id;
  send({ type: "move", track_id: track.id, after_track_id: after });
}

function artwork(track) {
  const src = artworkUrl(track);
  if (!src) return h("span", { class: "track-art placeholder-art", "aria-hidden": "true" }, "♪");
  const img = h("img", { class: "track-art", src, alt: "", loading: "lazy" });
  img.addEventListener("error", () => img.replaceWith(h("span", { class: "track-art placeholder-art", "aria-hidden": "true" }, "♪")));
  return img;
}
