// The room page's issue-12 rules: chat history and reactions from the snapshot, the live invite,
// how a track change was caused, the end of the queue, and what a change says.
import assert from "node:assert/strict";
import { test } from "node:test";

import { trackChangeText } from "../../rooms_server/static/js/announce.js";
import {
  DEFAULT_REACTIONS,
  applyEvent,
  applySnapshot,
  emptyRoom,
  lastReactions,
  playbackKnown,
  queueOver,
  upNext,
} from "../../rooms_server/static/js/reducer.js";

const track = (id) => ({ id, service: "youtube", title: `Song ${id}`, added_by_name: "Ann", duration_s: 100, url: "u" });
const snapshot = (extra = {}) => ({
  type: "snapshot",
  epoch: "e1",
  seq: 4,
  group: { id: "g", name: "Roof", is_public: false, listening_mode: "everyone" },
  playlist: { id: "p", version: 1, current_index: 0, tracks: [track(1), track(2), track(3)] },
  playback: { is_playing: true, position_ms: 0, server_time_ms: 10 },
  votes: { track_id: 1, votes: 0, needed: 1 },
  members: [],
  you: { user_id: "u1", name: "Ann", role: "admin" },
  ...extra,
});
let seq = 4;
const ev = (body) => ({ epoch: "e1", seq: ++seq, ...body });

test("room12: the snapshot's chat history becomes the page's chat, with the times", () => {
  const chat = [{ user_id: "u2", name: "Bob", text: "hi", sent_at: "2026-12-02T03:04:05.123Z" }];
  const room = applySnapshot({ ...emptyRoom(), chat: [{ kind: "chat", text: "old" }] }, snapshot({ chat }));
  assert.deepEqual(room.chat, [{ kind: "chat", user_id: "u2", name: "Bob", text: "hi", at: "2026-12-02T03:04:05.123Z" }]);
  const older = applySnapshot({ ...emptyRoom(), chat: [{ kind: "chat", text: "kept" }] }, snapshot());
  assert.equal(older.chat[0].text, "kept", "a server without history: the page keeps what it saw");
});

test("room12: reactions come from the snapshot, else the documented set", () => {
  assert.deepEqual(applySnapshot(emptyRoom(), snapshot()).reactions, DEFAULT_REACTIONS);
  assert.deepEqual(applySnapshot(emptyRoom(), snapshot({ reactions: ["🔥", "👍"] })).reactions, ["🔥", "👍"]);
  seq = 4;
  let room = applySnapshot(emptyRoom(), snapshot());
  room = applyEvent(room, ev({ type: "reaction", user_id: "u2", name: "Bob", emoji: "🔥", sent_at: "2026-12-02T03:04:05Z" }));
  room = applyEvent(room, ev({ type: "chat", user_id: "u2", name: "Bob", text: "yes" }));
  assert.deepEqual(lastReactions(room).map((r) => r.text), ["🔥"]);
  assert.equal(room.chat[1].at, null);
});

test("room12: the invite follows invite_changed; undefined means the server does not say", () => {
  seq = 4;
  let room = applySnapshot(emptyRoom(), snapshot());
  assert.equal(room.invite, undefined);
  room = applySnapshot(emptyRoom(), snapshot({ invite: { url: "http://x/join/a", code: "K7MP3Q" } }));
  assert.equal(room.invite.code, "K7MP3Q");
  room = applyEvent(room, ev({ type: "invite_changed", invite: { url: "http://x/join/b", code: "ABCDEF" } }));
  assert.equal(room.invite.code, "ABCDEF");
  room = applyEvent(room, ev({ type: "invite_changed", invite: null }));
  assert.equal(room.invite, null);
});

test("room12: a skip by vote is remembered with its cause and announced to everyone", () => {
  seq = 4;
  let room = applySnapshot(emptyRoom(), snapshot());
  room = applyEvent(room, ev({ type: "index_changed", index: 1, track_id: 2, cause: "vote" }));
  assert.deepEqual(room.change, { cause: "vote", track_id: 2, seq: room.seq });
  const text = trackChangeText(room, { byVote: true });
  assert.equal(text.shown, "Skipped by vote");
  assert.match(text.spoken, /^Skipped by vote\. Now playing: Song 2, added by Ann\.$/);
  assert.equal(trackChangeText(room).shown, "", "a plain change shows nothing, it is only read out");
  assert.deepEqual(upNext(room).map((t) => t.id), [3]);
});

test("room12: the end of the queue says what happens next, not 'go back a track'", () => {
  seq = 4;
  let room = applySnapshot(emptyRoom(), snapshot());
  assert.equal(queueOver(room), false);
  room = applyEvent(room, ev({ type: "index_changed", index: 3, track_id: null, cause: "queue_end" }));
  room = applyEvent(room, ev({ type: "playback_changed", track_id: null, playback: { is_playing: false, position_ms: 0, server_time_ms: 20 } }));
  assert.equal(queueOver(room), true);
  assert.match(trackChangeText(room).shown, /add a song to keep going/);
  // Stopped on the last track (the server keeps the index there and says queue_ended).
  const late = applySnapshot(emptyRoom(), snapshot({ queue_ended: true, playback: { is_playing: false, position_ms: 0, server_time_ms: 0 } }));
  assert.equal(queueOver(late), true);
  const playing = applyEvent(late, { epoch: "e1", seq: 5, type: "playback_changed", track_id: 1, playback: { is_playing: true, position_ms: 0, server_time_ms: 30 } });
  assert.equal(queueOver(playing), false, "playing again: the queue goes on");
});

test("room12: the first song added to an idle room is playable at once (no playback event follows)", () => {
  const idle = applySnapshot(emptyRoom(), snapshot({ playlist: { id: "p", version: 1, current_index: 0, tracks: [] }, playback: { is_playing: false, position_ms: 0, server_time_ms: 0 } }));
  let room = applyEvent(idle, { epoch: "e1", seq: 5, type: "track_added", index: 0, track: track(7) });
  room = applyEvent(room, { epoch: "e1", seq: 6, type: "index_changed", index: 0, track_id: 7, cause: "added" });
  assert.equal(playbackKnown(room), true);
  room = applyEvent(room, { epoch: "e1", seq: 7, type: "track_added", index: 1, track: track(8) });
  const skipped = applyEvent(room, { epoch: "e1", seq: 8, type: "index_changed", index: 1, track_id: 8, cause: "host" });
  assert.equal(playbackKnown(skipped), false, "a host's skip: its playback is the next event");
});
