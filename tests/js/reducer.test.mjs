import assert from "node:assert/strict";
import { test } from "node:test";

import {
  DEFAULT_QUEUE,
  applyEvent,
  applySnapshot,
  currentTrack,
  emptyRoom,
  isHost,
  isSpeaker,
  playbackKnown,
  shouldPlayHere,
} from "../../rooms_server/static/js/reducer.js";

const track = (id, service = "youtube") => ({ id, service, title: `t${id}`, duration_s: 100, url: "u" });
const snapshot = (extra = {}) => ({
  type: "snapshot",
  epoch: "e1",
  seq: 4,
  group: { id: "g", name: "Roof", is_public: false, listening_mode: "everyone" },
  playlist: { id: "p", version: 1, current_index: 0, tracks: [track(1), track(2, "spotify")] },
  playback: { is_playing: false, position_ms: 0, server_time_ms: 10 },
  votes: { track_id: 1, votes: 0, needed: 1 },
  members: [{ user_id: "u1", name: "Ann", role: "admin" }],
  you: { user_id: "u1", name: "Ann", role: "admin" },
  speakers: [],
  followers: [],
  device_key: "k1",
  ...extra,
});
let seq = 4;
const ev = (body) => ({ epoch: "e1", seq: ++seq, ts: 0, ...body });

test("reducer: a snapshot replaces the room but keeps the chat this page saw", () => {
  const before = { ...emptyRoom(), chat: [{ kind: "chat", text: "hi" }] };
  const room = applySnapshot(before, snapshot());
  assert.equal(room.epoch, "e1");
  assert.equal(currentTrack(room).id, 1);
  assert.equal(room.deviceKey, "k1");
  assert.deepEqual(room.chat, before.chat);
  assert.ok(isHost(room));
});

test("reducer: events never mutate the room they are applied to", () => {
  const room = applySnapshot(emptyRoom(), snapshot());
  const frozen = JSON.stringify(room);
  seq = 4;
  const after = [
    ev({ type: "track_added", index: 0, track: track(3) }),
    ev({ type: "track_moved", track_id: 3, after_track_id: 1, index: 1 }),
    ev({ type: "track_removed", track_id: 2 }),
    ev({ type: "index_changed", index: 1, track_id: 3 }),
    ev({ type: "playback_changed", playback: { is_playing: true, position_ms: 0, server_time_ms: 50 }, track_id: 3 }),
    ev({ type: "members_changed", joined: [{ user_id: "u2", name: "Bo", role: "member" }], left: [], count: 2 }),
    ev({ type: "role_changed", user_id: "u1", role: "member" }),
    ev({ type: "chat", user_id: "u2", name: "Bo", text: "yo" }),
    ev({ type: "listening_mode_changed", listening_mode: "speaker" }),
    ev({ type: "speakers_changed", speakers: [{ device_key: "k1", user_id: "u1", name: "Ann" }] }),
    ev({ type: "follow_changed", user_id: "u2", following: true }),
    ev({ type: "something_new", whatever: 1 }),
  ].reduce(applyEvent, room);
  assert.equal(JSON.stringify(room), frozen);
  assert.deepEqual(after.tracks.map((t) => t.id), [1, 3]);
  assert.equal(currentTrack(after).id, 3);
  assert.equal(after.playback.is_playing, true);
  assert.deepEqual(after.members.map((m) => m.user_id), ["u1", "u2"]);
  assert.equal(isHost(after), false);
  assert.equal(after.chat.at(-1).text, "yo");
  assert.equal(after.group.listening_mode, "speaker");
  assert.ok(isSpeaker(after));
  assert.deepEqual(after.followers, ["u2"]);
  assert.equal(after.seq, seq);
});

test("reducer: who plays here follows the mode, the speaker set and the phone's own switch", () => {
  const room = applySnapshot(emptyRoom(), snapshot());
  assert.equal(shouldPlayHere(room, { listenHere: true }), true);
  assert.equal(shouldPlayHere(room, { listenHere: false }), false);
  const speakerMode = { ...room, group: { ...room.group, listening_mode: "speaker" } };
  assert.equal(shouldPlayHere(speakerMode, { listenHere: true }), false); // a remote
  const speaker = { ...speakerMode, speakers: [{ device_key: "k1", user_id: "u1", name: "Ann" }] };
  assert.equal(shouldPlayHere(speaker, { listenHere: true }), true);
  const followingOnSpotify = { ...room, index: 1, followers: ["u1"] };
  assert.equal(shouldPlayHere(followingOnSpotify, { listenHere: true }), false); // their own Spotify plays it
  assert.equal(shouldPlayHere({ ...followingOnSpotify, index: 0 }, { listenHere: true }), true); // YouTube still here
});

test("reducer: the chat keeps the last 100 lines", () => {
  let room = applySnapshot(emptyRoom(), snapshot());
  for (let i = 0; i < 130; i += 1) room = applyEvent(room, { type: "reaction", emoji: "🎉", seq: i + 5 });
  assert.equal(room.chat.length, 100);
});

test("reducer: between a track change and its playback, the playback is not the new track's", () => {
  const room = applySnapshot(emptyRoom(), snapshot());
  assert.equal(playbackKnown(room), true);
  const changed = applyEvent(room, { type: "index_changed", index: 1, track_id: 2, epoch: "e1", seq: 5 });
  assert.equal(playbackKnown(changed), false);
  const started = applyEvent(changed, {
    type: "playback_changed",
    playback: { is_playing: true, position_ms: 0, server_time_ms: 99 },
    track_id: 2,
    epoch: "e1",
    seq: 6,
  });
  assert.equal(playbackKnown(started), true);
});

test("reducer: a track change that carries its playback is applied from one frame, votes cleared", () => {
  let room = applySnapshot(emptyRoom(), snapshot({ votes: { track_id: 1, votes: 2, needed: 3 } }));
  const playback = { is_playing: true, position_ms: 0, server_time_ms: 500 };
  room = applyEvent(room, {
    type: "index_changed",
    index: 1,
    track_id: 2,
    cause: "host",
    queue_ended: false,
    playback,
    ends_at_ms: 100_500,
    epoch: "e1",
    seq: 5,
  });
  assert.equal(room.index, 1);
  assert.deepEqual(room.playback, playback);
  assert.equal(playbackKnown(room), true);
  assert.equal(currentTrack(room).id, 2);
  assert.deepEqual(room.votes, { track_id: 2, votes: 0, needed: 3 });
  assert.equal(room.queueEnded, false);
});

test("reducer: the snapshot's queue settings, with the server's defaults for a snapshot without them", () => {
  assert.deepEqual(applySnapshot(emptyRoom(), snapshot()).queue, DEFAULT_QUEUE);
  const room = applySnapshot(emptyRoom(), snapshot({ queue: { ...DEFAULT_QUEUE, queue_mode: "fair_turns", max_track_s: 0 } }));
  assert.equal(room.queue.queue_mode, "fair_turns");
  assert.equal(room.queue.max_track_s, 0);
  assert.equal(room.queue.repeat, "off");
  const partial = applySnapshot(emptyRoom(), snapshot({ queue: { repeat: "all" } }));
  assert.deepEqual(partial.queue, { ...DEFAULT_QUEUE, repeat: "all" });
});

test("reducer: queue_settings_changed replaces the settings, never touching the room before", () => {
  const room = applySnapshot(emptyRoom(), snapshot());
  const queue = { ...DEFAULT_QUEUE, who_may_add: "hosts", autoplay: true };
  const after = applyEvent(room, { type: "queue_settings_changed", queue, epoch: "e1", seq: 5 });
  assert.deepEqual(after.queue, queue);
  assert.deepEqual(room.queue, DEFAULT_QUEUE);
  assert.equal(after.seq, 5);
});

test("reducer: queue_reordered puts the tracks in the server's order and keeps the current one", () => {
  const tracks = [track(1), track(2), track(3), track(4)];
  const room = applySnapshot(emptyRoom(), snapshot({ playlist: { id: "p", version: 1, current_index: 1, tracks } }));
  const after = applyEvent(room, {
    type: "queue_reordered",
    track_ids: [1, 2, 4, 3],
    current_index: 1,
    cause: "shuffle",
    epoch: "e1",
    seq: 5,
  });
  assert.deepEqual(after.tracks.map((t) => t.id), [1, 2, 4, 3]);
  assert.equal(after.index, 1);
  assert.equal(currentTrack(after).id, 2);
  assert.deepEqual(room.tracks.map((t) => t.id), [1, 2, 3, 4]);
  // An id this page never saw is skipped; a track the server did not list stays, at the end.
  const odd = applyEvent(room, { type: "queue_reordered", track_ids: [1, 2, 9, 4], current_index: 1, cause: "unshuffle", epoch: "e1", seq: 5 });
  assert.deepEqual(odd.tracks.map((t) => t.id), [1, 2, 4, 3]);
});

test("reducer: members_changed adds, replaces and drops people, and carries the room's count", () => {
  const bounded = { ...snapshot(), member_count: 250 }; // a big room: the snapshot lists a few of 250
  let room = applySnapshot(emptyRoom(), bounded);
  assert.equal(room.memberCount, 250);
  seq = 4;
  room = applyEvent(
    room,
    ev({
      type: "members_changed",
      joined: [
        { user_id: "u2", name: "Bo", role: "member" },
        { user_id: "u1", name: "Ann", role: "member" },
      ],
      left: ["u9"],
      count: 251,
    }),
  );
  assert.deepEqual(room.members.map((m) => [m.user_id, m.role]), [["u2", "member"], ["u1", "member"]]);
  assert.equal(room.memberCount, 251);
  room = applyEvent(room, ev({ type: "members_changed", joined: [], left: ["u2"], count: 250 }));
  assert.deepEqual(room.members.map((m) => m.user_id), ["u1"]);
  assert.equal(room.names.u2, "Bo", "a name stays known after they leave, for notices");
});

test("reducer: a snapshot from a server without member_count counts its list", () => {
  const room = applySnapshot(emptyRoom(), snapshot());
  assert.equal(room.memberCount, snapshot().members.length);
});
