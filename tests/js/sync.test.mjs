import assert from "node:assert/strict";
import { test } from "node:test";

import { CORRECTION, Corrector, clockAt, positionAt, roomTarget, upcomingChanges } from "../../rooms_server/static/js/sync.js";

const T = 1_000_000;
const track = { id: 1, duration_s: 180 };

test("sync: a scheduled start holds its position until its instant", () => {
  const start = { is_playing: true, position_ms: 5000, server_time_ms: T };
  assert.equal(positionAt(start, T - 400, 180_000), 5000);
  assert.equal(positionAt(start, T + 250, 180_000), 5250);
  assert.deepEqual(upcomingChanges(start, T - 1), [T]);
  assert.deepEqual(upcomingChanges(start, T), []);
});

test("sync: a scheduled pause plays on its prior clock, then stops at its position", () => {
  const pause = {
    is_playing: false,
    position_ms: 61_800,
    server_time_ms: T,
    prior: { is_playing: true, position_ms: 0, server_time_ms: T - 61_800 },
  };
  assert.equal(positionAt(pause, T - 500, 180_000), 61_300);
  assert.equal(clockAt(pause, T - 1).is_playing, true);
  assert.equal(positionAt(pause, T + 10_000, 180_000), 61_800);
  assert.equal(roomTarget(track, pause, T + 5).playing, false);
});

test("sync: chained pending changes each apply at their own instant", () => {
  const seek = {
    is_playing: true,
    position_ms: 90_000,
    server_time_ms: T + 800,
    prior: {
      is_playing: true,
      position_ms: 10_000,
      server_time_ms: T,
      prior: { is_playing: false, position_ms: 10_000, server_time_ms: T - 3000 },
    },
  };
  assert.equal(positionAt(seek, T - 100, 180_000), 10_000);
  assert.equal(positionAt(seek, T + 400, 180_000), 10_400);
  assert.equal(positionAt(seek, T + 900, 180_000), 90_100);
  assert.deepEqual(upcomingChanges(seek, T - 100), [T, T + 800]);
});

test("sync: the target is clamped to the track and stops at its end", () => {
  const playing = { is_playing: true, position_ms: 179_900, server_time_ms: T };
  assert.deepEqual(roomTarget(track, playing, T + 500), { track, positionMs: 180_000, playing: false });
  assert.deepEqual(roomTarget(null, playing, T), { track: null, positionMs: 0, playing: false });
});

const playingTarget = (positionMs) => ({ track, positionMs, playing: true });
const player = (positionMs, extra = {}) => ({ ready: true, playing: true, buffering: false, positionMs, ...extra });

test("sync: errors inside the band are left alone", () => {
  const c = new Corrector();
  for (let i = 0; i < 20; i += 1) {
    assert.equal(c.decide(i * 250, playingTarget(10_000), player(10_000 + (i % 2 ? 55 : -55))).kind, "none");
  }
  assert.equal(c.log.length, 0);
});

test("sync: an error beyond the band must persist before a seek (noise never seeks)", () => {
  const c = new Corrector({ initialLeadMs: 0 });
  assert.equal(c.decide(0, playingTarget(10_000), player(10_090)).kind, "none");
  assert.equal(c.decide(250, playingTarget(10_250), player(10_250)).kind, "none"); // back inside: reset
  assert.equal(c.decide(500, playingTarget(10_500), player(10_590)).kind, "none");
  assert.equal(c.decide(750, playingTarget(10_750), player(10_840)).kind, "none");
  const action = c.decide(1000, playingTarget(11_000), player(11_090));
  assert.equal(action.kind, "seek");
  assert.equal(action.seekTo, 11_000);
});

test("sync: a big error is corrected at once, whatever the cap", () => {
  const c = new Corrector();
  const action = c.decide(0, playingTarget(30_000), player(27_000));
  assert.deepEqual([action.kind, action.big], ["seek", true]);
  assert.equal(c.corrections.length, 0);
});

test("sync: at most capPerWindow small corrections a minute, then a wider band", () => {
  const c = new Corrector();
  let seeks = 0;
  let now = CORRECTION.steadyAfterMs + 1; // steady play
  for (let i = 0; i < 400; i += 1, now += 250) {
    // A player that keeps drifting 100 ms off between corrections.
    const action = c.decide(now, playingTarget(now), player(now + 100));
    if (action.kind === "seek") seeks += 1;
  }
  assert.ok(now >= CORRECTION.capWindowMs);
  assert.ok(seeks <= CORRECTION.capPerWindow * 2, `${seeks} seeks in ${now} ms`);
  assert.ok(seeks >= CORRECTION.capPerWindow, "it did correct");
  assert.equal(c.tolerance(now - 1), CORRECTION.cappedToleranceMs);
});

test("sync: a buffering player is never seeked; a stopped one is told to play", () => {
  const c = new Corrector();
  assert.equal(c.decide(0, playingTarget(5000), player(1000, { buffering: true })).kind, "none");
  const action = c.decide(250, playingTarget(5250), player(1000, { playing: false }));
  assert.equal(action.kind, "play");
  assert.equal(c.decide(0, playingTarget(0), { ready: false }).kind, "none");
});

test("sync: a paused room pauses the player and aligns it exactly", () => {
  const c = new Corrector();
  const paused = { track, positionMs: 61_800, playing: false };
  assert.deepEqual(c.decide(0, paused, player(61_900)), { kind: "pause", seekTo: 61_800 });
  assert.deepEqual(c.decide(250, paused, player(61_900, { playing: false })), { kind: "pause", seekTo: 61_800 });
  assert.equal(c.decide(500, paused, player(61_820, { playing: false })).kind, "none");
});

test("sync: the seek lead is learnt from what is left after a seek", () => {
  const c = new Corrector({ initialLeadMs: 0, learnRate: 0.5 });
  c.decide(0, playingTarget(20_000), player(17_000)); // big: seek to 20_000
  // The player took 200 ms to resume: it plays 200 ms behind the room.
  c.decide(500, playingTarget(20_500), player(20_300));
  assert.equal(c.seekLeadMs, 100);
  c.decide(5000, playingTarget(30_000), player(26_000));
  c.decide(5500, playingTarget(30_500), player(30_400));
  assert.equal(c.seekLeadMs, 150);
  assert.equal(c.decide(6000, playingTarget(40_000), player(35_000)).seekTo, 40_150);
});

test("sync: a start that sounded late is asked for earlier next time", () => {
  const c = new Corrector({ initialLeadMs: 100, learnRate: 0.8 });
  c.started(0);
  c.decide(500, playingTarget(500), player(380)); // 120 ms late
  assert.equal(c.startLeadMs, 196);
  assert.equal(c.seekLeadMs, 100); // a start teaches nothing about seeks
});

test("sync: a seek that lands outside the band is retried once at once, then never chased", () => {
  const c = new Corrector({ initialLeadMs: 100, learnRate: 1 });
  assert.equal(c.decide(0, playingTarget(10_000), player(7_000)).kind, "seek"); // big
  // 180 ms of seek latency: 80 ms behind once it plays; learnt (lead 180) and retried right away.
  const retry = c.decide(500, playingTarget(10_500), player(10_420));
  assert.deepEqual([retry.kind, retry.seekTo], ["seek", 10_680]);
  // The retry landed 70 ms off again (noise): no further seek until the band's usual rules say so.
  assert.equal(c.decide(1000, playingTarget(11_000), player(10_930)).kind, "none");
  assert.equal(c.decide(1250, playingTarget(11_250), player(11_180)).kind, "none");
});

test("sync: corrections while a player settles after a start do not use up the cap", () => {
  const c = new Corrector({ initialLeadMs: 0 });
  c.started(0);
  for (let now = 250; now < 4000; now += 250) c.decide(now, playingTarget(now), player(now + 100));
  assert.ok(c.log.length >= 1);
  assert.equal(c.corrections.length, 0);
  assert.equal(c.tolerance(4000), CORRECTION.toleranceMs);
});
