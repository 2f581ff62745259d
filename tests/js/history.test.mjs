import assert from "node:assert/strict";
import { test } from "node:test";

import { emptyHistory, historyRow, mergeHistory, outcomeText, relativeTime } from "../../rooms_server/static/js/history.js";

const NOW = Date.parse("2026-12-02T21:00:00Z");
const entry = (id, extra = {}) => ({
  id,
  track_id: id + 100,
  service: "youtube",
  url: `https://www.youtube.com/watch?v=${String(id).padStart(11, "x")}`,
  title: `Song ${id}`,
  duration_s: 240,
  artwork_url: null,
  added_by: "u1",
  added_by_name: "Ann",
  started_at: "2026-12-02T20:50:00Z",
  played_ms: 240_000,
  outcome: "ended",
  ...extra,
});
const ids = (history) => history.entries.map((e) => e.id);

test("history: how a play ended, in words", () => {
  assert.equal(outcomeText(entry(1)), "played 4:00");
  assert.equal(outcomeText(entry(1, { played_ms: 192_000 })), "played 3:12 of 4:00");
  assert.equal(outcomeText(entry(1, { outcome: "skipped", played_ms: 65_000 })), "skipped at 1:05");
  assert.equal(outcomeText(entry(1, { outcome: "voted", played_ms: 40_000 })), "skipped by vote at 0:40");
  assert.equal(outcomeText(entry(1, { outcome: "removed", played_ms: 1_000 })), "removed at 0:01");
});

test("history: relative times, from the end of the play when the server tells it", () => {
  assert.equal(relativeTime("2026-12-02T20:59:40Z", NOW), "just now");
  assert.equal(relativeTime("2026-12-02T20:50:00Z", NOW), "10 min ago");
  assert.equal(relativeTime("2026-12-02T18:00:00Z", NOW), "3 h ago");
  assert.equal(relativeTime("2026-12-01T18:00:00Z", NOW), "yesterday");
  assert.equal(relativeTime("2026-11-28T18:00:00Z", NOW), "4 days ago");
  assert.equal(relativeTime(null, NOW), "");
  assert.equal(historyRow(entry(1), NOW).when, "10 min ago");
  assert.equal(historyRow(entry(1, { ended_at: "2026-12-02T20:58:00Z" }), NOW).when, "2 min ago");
});

test("history: a row carries what Add again sends, the add command of a pasted link", () => {
  const row = historyRow(entry(7, { outcome: "voted", played_ms: 3_000, added_by_name: "Bob" }), NOW);
  assert.deepEqual(row, {
    id: 7,
    title: "Song 7",
    by: "Bob",
    outcome: "skipped by vote at 0:03",
    when: "10 min ago",
    add: { type: "add", service: "youtube", url: entry(7).url, title: "Song 7", duration: 240 },
  });
});

test("history: Show more appends the older page and takes its cursor, without duplicates", () => {
  let history = mergeHistory(emptyHistory(), { entries: [entry(9), entry(8), entry(7)], next_before: 7 });
  assert.deepEqual(ids(history), [9, 8, 7]);
  assert.equal(history.nextBefore, 7);
  history = mergeHistory(history, { entries: [entry(7), entry(6), entry(5)], next_before: null }, { older: true });
  assert.deepEqual(ids(history), [9, 8, 7, 6, 5]);
  assert.equal(history.nextBefore, null);
});

test("history: the newest page after a track change joins the older pages already shown", () => {
  let history = mergeHistory(emptyHistory(), { entries: [entry(4), entry(3)], next_before: 3 });
  history = mergeHistory(history, { entries: [entry(2), entry(1)], next_before: null }, { older: true });
  history = mergeHistory(history, { entries: [entry(5), entry(4)], next_before: 4 });
  assert.deepEqual(ids(history), [5, 4, 3, 2, 1]);
  assert.equal(history.nextBefore, null); // everything older is still shown
  // A newest page that does not reach what is shown (many plays since): it starts over.
  const gap = mergeHistory(history, { entries: [entry(12), entry(11)], next_before: 11 });
  assert.deepEqual(ids(gap), [12, 11]);
  assert.equal(gap.nextBefore, 11);
  // An empty history that fills up takes the page's cursor.
  const first = mergeHistory(mergeHistory(emptyHistory(), { entries: [], next_before: null }), { entries: [entry(1)], next_before: null });
  assert.deepEqual(ids(first), [1]);
  assert.ok(first.loaded);
});
