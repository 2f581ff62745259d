// The room's playback history (GET /api/groups/{id}/history) as the "Played" card shows it (pure):
// one row per play, newest first, and the pages merged as "Show more" loads older ones.

import { formatTime } from "./format.js";

/** "just now", "5 min ago", "2 h ago", "yesterday", "3 days ago"; "" without a readable time. */
export function relativeTime(iso, nowMs) {
  const at = iso ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(at)) return "";
  const minutes = Math.floor(Math.max(0, nowMs - at) / 60_000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  return days === 1 ? "yesterday" : `${days} days ago`;
}

/** How a play ended, in words: "played 4:00", "played 3:12 of 4:00", "skipped at 1:05", "skipped by vote at 0:40". */
export function outcomeText(entry) {
  const played = formatTime(entry.played_ms || 0);
  const length = formatTime((entry.duration_s || 0) * 1000);
  switch (entry.outcome) {
    case "skipped":
      return `skipped at ${played}`;
    case "voted":
      return `skipped by vote at ${played}`;
    case "removed":
      return `removed at ${played}`;
    default: // ended: played to its end, or as far as a seek let it
      return (entry.played_ms || 0) >= (entry.duration_s || 0) * 1000 - 1000 ? `played ${length}` : `played ${played} of ${length}`;
  }
}

/** One display row of a history entry; `nowMs` is the server's time (the page's clock estimate). */
export function historyRow(entry, nowMs) {
  return {
    id: entry.id,
    title: entry.title,
    by: entry.added_by_name || "someone",
    outcome: outcomeText(entry),
    when: relativeTime(entry.ended_at || entry.started_at, nowMs),
    // What "Add again" sends: the add command the add card sends for a pasted link.
    add: { type: "add", service: entry.service, url: entry.url, title: entry.title, duration: entry.duration_s },
  };
}

export const emptyHistory = () => ({ entries: [], nextBefore: null, loaded: false });

const byNewest = (a, b) => b.id - a.id;

/**
 * The history after one page from the server. `older`: the page "Show more" asked for (its
 * cursor replaces ours); else the newest page, asked for on opening and after a track change,
 * which keeps the older pages already shown unless it does not reach them (a gap: start over).
 */
export function mergeHistory(history, page, { older = false } = {}) {
  const fresh = Array.isArray(page && page.entries) ? page.entries : [];
  const next = page && typeof page.next_before === "number" ? page.next_before : null;
  if (!history.loaded || history.entries.length === 0) return { entries: dedupe(fresh), nextBefore: next, loaded: true };
  if (older) return { entries: dedupe([...history.entries, ...fresh]), nextBefore: next, loaded: true };
  const known = new Set(history.entries.map((e) => e.id));
  const reaches = next === null || fresh.some((e) => known.has(e.id));
  if (!reaches) return { entries: dedupe(fresh), nextBefore: next, loaded: true };
  return { entries: dedupe([...fresh, ...history.entries]), nextBefore: history.nextBefore, loaded: true };
}

function dedupe(entries) {
  const seen = new Map();
  for (const entry of entries) if (!seen.has(entry.id)) seen.set(entry.id, entry);
  return [...seen.values()].sort(byNewest);
}
