#!/usr/bin/env node
// How closely phones start and pause together: the page's own clock module (rooms_server/static/
// js/clock.js) under simulated networks and clocks, against the estimator the page used before.
//
//   node bench/sync.mjs [--phones 20] [--seconds 180] [--seeds 5] [--json]
//
// Each simulated phone has a monotonic clock with its own offset (±1 s) and drift (±100 ppm), a
// wall clock that additionally steps by 400 ms once in a while, a round-trip time (50–300 ms) and
// jitter (±20–50 ms per direction, symmetric floors). The server schedules a start or a pause
// every few seconds, `lead` ahead (clamp(1.5 × the room's high RTT + 200, 400, 3000) ms, as
// rooms_server/latency.py does); each phone works out the local instant from its estimate and
// acts then, or when the event arrives if that is later. Printed: the spread (max − min across
// phones) of the true server times at which they act, p50/p99 over all events, per RTT class;
// the p99 of each phone's own error; and the worst error of a phone after its wall clock stepped.
// "before" is the page's previous estimator: lowest-RTT sample of the last 8 on Date.now(),
// 4 pings at connect then one every 15 s, and pauses applied on arrival (its start spread
// leaves the stepped phones out; their error is the last column).

import { ClockEstimator, PING_SCHEDULE } from "../rooms_server/static/js/clock.js";

const args = Object.fromEntries(
  process.argv.slice(2).map((arg, i, all) => (arg.startsWith("--") ? [arg.slice(2), all[i + 1] ?? true] : [])),
);
const PHONES = Number(args.phones ?? 20);
const SECONDS = Number(args.seconds ?? 180);
const SEEDS = Number(args.seeds ?? 5);
const RTT_CLASSES = [50, 100, 200, 300];

function rng(seed) {
  // mulberry32: small, deterministic
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const uniform = (random, lo, hi) => lo + (hi - lo) * random();

function makePhone(random, rtt) {
  const jitter = uniform(random, 20, 50);
  const floor = Math.max(rtt / 2 - jitter, 3);
  const phone = {
    offset: uniform(random, -1000, 1000),
    drift: uniform(random, -100e-6, 100e-6),
    joinedAt: uniform(random, 0, 30_000),
    wallStepAt: random() < 0.3 ? uniform(random, 40_000, SECONDS * 1000) : Infinity,
    oneWay: () => floor + uniform(random, 0, 2 * jitter),
    estimator: new ClockEstimator(),
    before: { samples: [], offset: 0 },
  };
  // Local clocks as functions of true server time s (ms).
  phone.mono = (s) => s + phone.offset + (s - phone.joinedAt) * phone.drift;
  phone.wall = (s) => phone.mono(s) + (s >= phone.wallStepAt ? 400 : 0);
  phone.trueTime = (local) => {
    // Inverse of mono: the true server time at which the phone's monotonic clock reads `local`.
    return phone.joinedAt + (local - phone.joinedAt - phone.offset) / (1 + phone.drift);
  };
  phone.trueTimeWall = (local, stepped) => phone.trueTime(local - (stepped ? 400 : 0));
  return phone;
}

/** The pings a phone sends (true send times), per the page's schedule, while connected. */
function pingTimes(phone, end, schedule) {
  const times = [];
  for (let i = 0; i < schedule.burst; i += 1) times.push(phone.joinedAt + i * schedule.gapMs);
  for (let t = phone.joinedAt + schedule.everyMs; t < end; t += schedule.everyMs) times.push(t);
  return times;
}

function simulatePings(phone, end) {
  const events = [];
  const now = pingTimes(phone, end, { burst: PING_SCHEDULE.burst, gapMs: PING_SCHEDULE.burstGapMs, everyMs: PING_SCHEDULE.everyMs });
  for (const sent of now) {
    const there = phone.oneWay();
    const back = phone.oneWay();
    events.push({ kind: "new", received: sent + there + back, sent, server: Math.floor(sent + there) });
  }
  const before = pingTimes(phone, end, { burst: 4, gapMs: 250, everyMs: 15_000 });
  for (const sent of before) {
    const there = phone.oneWay();
    const back = phone.oneWay();
    events.push({ kind: "old", received: sent + there + back, sent, server: Math.floor(sent + there) });
  }
  return events.sort((a, b) => a.received - b.received);
}

function feed(phone, ping) {
  if (ping.kind === "new") {
    phone.estimator.addSample(phone.mono(ping.sent), phone.mono(ping.received), ping.server);
  } else {
    // The old page: client_time = Date.now() at send; on the pong, Date.now() again.
    const sentWall = phone.wall(ping.sent);
    const rtt = phone.wall(ping.received) - sentWall;
    const b = phone.before;
    b.samples.push({ rtt, offset: ping.server - (sentWall + rtt / 2) });
    if (b.samples.length > 8) b.samples.shift();
    b.offset = b.samples.reduce((best, s) => (s.rtt < best.rtt ? s : best)).offset;
  }
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function runRoom(seed, rtt) {
  const random = rng(seed * 7919 + rtt);
  const phones = Array.from({ length: PHONES }, () => makePhone(random, uniform(random, rtt * 0.8, rtt)));
  const end = SECONDS * 1000;
  const timelines = phones.map((phone) => simulatePings(phone, end));
  const cursors = phones.map(() => 0);
  const high = Math.max(...phones.map(() => rtt));
  const lead = Math.min(3000, Math.max(400, 1.5 * high + 200));
  const spreads = { startNew: [], pauseNew: [], startOld: [], pauseOld: [] };
  const errors = [];
  let stepped = { worstNew: 0, worstOld: 0 };
  for (let at = 40_000; at < end; at += 2_500) {
    const instant = at + lead;
    const acts = { startNew: [], pauseNew: [], startOld: [], pauseOld: [] };
    phones.forEach((phone, i) => {
      const arrival = at + phone.oneWay();
      while (cursors[i] < timelines[i].length && timelines[i][cursors[i]].received <= arrival) {
        feed(phone, timelines[i][cursors[i]]);
        cursors[i] += 1;
      }
      // New page: schedule on the monotonic clock from the estimate held when the event arrives.
      const local = phone.estimator.localTime(instant);
      const acted = Math.max(phone.trueTime(local), arrival);
      acts.startNew.push(acted - instant);
      acts.pauseNew.push(acted - instant); // pauses are scheduled exactly like starts now
      errors.push(Math.abs(acted - instant));
      // Old page: start at (instant − offset) on Date.now(); pause on arrival.
      const wallLocal = instant - phone.before.offset;
      const steppedNow = arrival >= phone.wallStepAt;
      const actedOld = Math.max(phone.trueTimeWall(wallLocal, steppedNow), arrival);
      if (!steppedNow) acts.startOld.push(actedOld - instant); // the step is reported on its own
      acts.pauseOld.push(arrival - at);
      if (steppedNow) {
        stepped = {
          worstNew: Math.max(stepped.worstNew, Math.abs(acted - instant)),
          worstOld: Math.max(stepped.worstOld, Math.abs(actedOld - instant)),
        };
      }
    });
    for (const key of Object.keys(acts)) spreads[key].push(Math.max(...acts[key]) - Math.min(...acts[key]));
  }
  return { spreads, errors, stepped, lead };
}

const report = [];
for (const rtt of RTT_CLASSES) {
  const merged = { startNew: [], pauseNew: [], startOld: [], pauseOld: [] };
  const errors = [];
  let stepped = { worstNew: 0, worstOld: 0 };
  let lead = 0;
  for (let seed = 1; seed <= SEEDS; seed += 1) {
    const room = runRoom(seed, rtt);
    for (const key of Object.keys(merged)) merged[key].push(...room.spreads[key]);
    errors.push(...room.errors);
    stepped = {
      worstNew: Math.max(stepped.worstNew, room.stepped.worstNew),
      worstOld: Math.max(stepped.worstOld, room.stepped.worstOld),
    };
    lead = room.lead;
  }
  const row = {
    rtt_ms: rtt,
    lead_ms: lead,
    events: merged.startNew.length,
    start_spread_p50: percentile(merged.startNew, 50),
    start_spread_p99: percentile(merged.startNew, 99),
    pause_spread_p50: percentile(merged.pauseNew, 50),
    pause_spread_p99: percentile(merged.pauseNew, 99),
    phone_error_p99: percentile(errors, 99),
    stepped_phone_worst: stepped.worstNew,
    before_start_spread_p99: percentile(merged.startOld, 99),
    before_pause_spread_p99: percentile(merged.pauseOld, 99),
    before_stepped_phone_worst: stepped.worstOld,
  };
  report.push(row);
}

if (args.json) {
  for (const row of report) console.log(JSON.stringify(row));
} else {
  const fmt = (v) => (Number.isFinite(v) ? v.toFixed(1).padStart(7) : "      -");
  console.log(`${PHONES} phones × ${SEEDS} rooms per RTT class, ${SECONDS} s each; spreads in ms (max − min across phones)`);
  console.log("   RTT  lead | start p50  p99 | pause p50  p99 | |err| p99 | 400 ms step | before: start p99 pause p99 step");
  for (const r of report) {
    console.log(
      `${String(r.rtt_ms).padStart(6)} ${String(r.lead_ms).padStart(5)} |${fmt(r.start_spread_p50)}${fmt(r.start_spread_p99)} |` +
        `${fmt(r.pause_spread_p50)}${fmt(r.pause_spread_p99)} |${fmt(r.phone_error_p99)}   |${fmt(r.stepped_phone_worst)}     |` +
        `        ${fmt(r.before_start_spread_p99)}   ${fmt(r.before_pause_spread_p99)} ${fmt(r.before_stepped_phone_worst)}`,
    );
  }
}
