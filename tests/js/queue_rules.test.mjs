import assert from "node:assert/strict";
import { test } from "node:test";

import {
  HOSTS_ONLY_NOTE,
  lengthWords,
  limitsLine,
  mayAdd,
  memberRules,
  nextTurn,
  refusalText,
  statusLine,
} from "../../rooms_server/static/js/queue_rules.js";
import { DEFAULT_QUEUE } from "../../rooms_server/static/js/reducer.js";

const track = (id, by, name) => ({ id, service: "youtube", title: `t${id}`, duration_s: 100, url: "u", added_by: by, added_by_name: name });
const room = ({ queue = {}, role = "member", index = 0 } = {}) => ({
  tracks: [track(1, "a", "Ann"), track(2, "b", "Bob"), track(3, "a", "Ann")],
  index,
  queue: { ...DEFAULT_QUEUE, ...queue },
  you: { user_id: "a", name: "Ann", role },
});

test("queue_rules: the status line names the mode, whose turn, repeat and autoplay", () => {
  assert.equal(statusLine(room()), "In order");
  assert.equal(statusLine(room({ queue: { queue_mode: "fair_turns", repeat: "all", autoplay: true } })), "Fair turns · next: Bob · Repeat all · Autoplay on");
  assert.equal(statusLine(room({ queue: { repeat: "one", who_may_add: "hosts" } })), "In order · Repeat one · Hosts add the songs");
  // Whose turn is the adder of the first upcoming track: "you" for one's own, none past the end.
  assert.equal(nextTurn(room({ index: 1 })), "you");
  assert.equal(statusLine(room({ queue: { queue_mode: "fair_turns" }, index: 2 })), "Fair turns");
  assert.equal(nextTurn(room({ index: 3 })), null);
});

test("queue_rules: the limits line leaves out every limit that is off", () => {
  assert.equal(limitsLine(DEFAULT_QUEUE), "Up to 10 songs waiting each · songs up to 20 min · no repeats within 60 min");
  assert.equal(limitsLine({ ...DEFAULT_QUEUE, max_queued_per_member: 0 }), "Songs up to 20 min · no repeats within 60 min");
  assert.equal(limitsLine({ ...DEFAULT_QUEUE, max_queued_per_member: 1, max_track_s: 0 }), "Up to 1 song waiting each · no repeats within 60 min");
  assert.equal(limitsLine({ ...DEFAULT_QUEUE, max_queued_per_member: 0, max_track_s: 0, replay_block_min: 0 }), "");
  assert.equal(limitsLine({ ...DEFAULT_QUEUE, max_queued_per_member: 0, max_track_s: 0, replay_block_min: 180 }), "No repeats within 3 h");
});

test("queue_rules: lengths read as short as they can", () => {
  assert.equal(lengthWords(45), "45 s");
  assert.equal(lengthWords(90), "1:30");
  assert.equal(lengthWords(1200), "20 min");
  assert.equal(lengthWords(3600), "60 min");
  assert.equal(lengthWords(86400), "24 h");
});

test("queue_rules: a curated room lets only hosts add; members see the note instead of the limits", () => {
  const curated = { who_may_add: "hosts" };
  assert.equal(mayAdd(room()), true);
  assert.equal(mayAdd(room({ queue: curated })), false);
  assert.equal(mayAdd(room({ queue: curated, role: "admin" })), true);
  assert.deepEqual(memberRules(room({ queue: curated })), { limits: "", note: HOSTS_ONLY_NOTE });
  assert.deepEqual(memberRules(room()), { limits: limitsLine(DEFAULT_QUEUE), note: "" });
  assert.deepEqual(memberRules(room({ role: "admin" })), { limits: "", note: "" }); // hosts are exempt
});

test("queue_rules: each refusal code has its words, with the room's own numbers", () => {
  assert.equal(refusalText("hosts_only", DEFAULT_QUEUE), HOSTS_ONLY_NOTE);
  assert.equal(refusalText("member_queue_limit", DEFAULT_QUEUE), "You already have 10 songs waiting — wait until one plays");
  assert.equal(refusalText("track_too_long", DEFAULT_QUEUE), "Songs in this room can be up to 20 min long — pick a shorter one");
  assert.equal(refusalText("recently_played", { ...DEFAULT_QUEUE, replay_block_min: 30 }), "This song played in the last 30 min — pick another one for now");
  // The service's own length limit has the same code: with the room's limit off, the server's message.
  assert.equal(refusalText("track_too_long", { ...DEFAULT_QUEUE, max_track_s: 0 }), null);
  assert.equal(refusalText("invalid_link", DEFAULT_QUEUE), null);
});
