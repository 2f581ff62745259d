import assert from "node:assert/strict";
import { test } from "node:test";

import { ClockEstimator } from "../../rooms_server/static/js/clock.js";

// A phone whose clock is `offset` behind the server and drifts by `ppm`, on a symmetric link.
function link({ offset = 1000, ppm = 0, there = 40, back = 40 } = {}) {
  return {
    local: (server) => server - offset + server * ppm * 1e-6,
    ping(estimator, serverAt, delays = [there, back]) {
      const sent = this.local(serverAt);
      const received = this.local(serverAt + delays[0] + delays[1]);
      estimator.addSample(sent, received, Math.floor(serverAt + delays[0]));
    },
  };
}

test("clock: no sample, no offset and infinite uncertainty", () => {
  const clock = new ClockEstimator();
  assert.equal(clock.ready, false);
  assert.equal(clock.offset(123), 0);
  assert.equal(clock.uncertainty(123), Infinity);
  assert.equal(clock.highRtt(), null);
});

test("clock: one round trip bounds the offset by its rtt", () => {
  const clock = new ClockEstimator();
  link({ offset: 1000 }).ping(clock, 10_000);
  assert.ok(Math.abs(clock.offset(9_000) - 1000) <= 1);
  assert.ok(clock.uncertainty(9_000) <= 41);
});

test("clock: jitter narrows the interval to the fastest trip in each direction", () => {
  const clock = new ClockEstimator();
  const phone = link({ offset: -250 });
  const delays = [
    [90, 20],
    [20, 95],
    [60, 60],
    [25, 70],
    [80, 22],
  ];
  delays.forEach((d, i) => phone.ping(clock, 10_000 + i * 1000, d));
  assert.ok(Math.abs(clock.offset(phone.local(15_000)) + 250) <= 2, `offset ${clock.offset(15_000)}`);
  assert.ok(clock.uncertainty(phone.local(15_000)) <= 22);
  assert.equal(clock.highRtt(), 120);
});

test("clock: drift within the allowance keeps old samples and the estimate right", () => {
  const clock = new ClockEstimator({ driftPpm: 150 });
  const phone = link({ offset: 500, ppm: 100 });
  for (let t = 0; t <= 80_000; t += 2500) phone.ping(clock, 1_000_000 + t, [30 + (t % 7), 30 + (t % 5)]);
  const at = phone.local(1_080_000);
  const truth = 1_080_000 - at;
  assert.ok(Math.abs(clock.offset(at) - truth) <= 3, `${clock.offset(at)} vs ${truth}`);
  assert.equal(clock.steps, 0);
});

test("clock: a step of the offset is followed at the next pong", () => {
  const clock = new ClockEstimator();
  const before = link({ offset: 1000 });
  for (let i = 0; i < 10; i += 1) before.ping(clock, 10_000 + i * 1000);
  // The phone slept with its monotonic clock paused: it is now 3 s behind where it was.
  const after = link({ offset: 4000 });
  after.ping(clock, 30_000);
  assert.equal(clock.steps, 1);
  assert.ok(Math.abs(clock.offset(after.local(30_000)) - 4000) <= 41);
  after.ping(clock, 30_500, [20, 20]);
  assert.ok(Math.abs(clock.offset(after.local(30_500)) - 4000) <= 21);
});

test("clock: samples older than the window are forgotten", () => {
  const clock = new ClockEstimator({ windowMs: 10_000 });
  const phone = link();
  phone.ping(clock, 0, [5, 5]);
  phone.ping(clock, 20_000, [100, 100]);
  assert.equal(clock.samples.length, 1);
  assert.ok(clock.uncertainty(phone.local(20_000)) > 90);
});

test("clock: local and server times convert both ways", () => {
  const clock = new ClockEstimator();
  link({ offset: 777 }).ping(clock, 50_000, [10, 10]);
  const local = clock.localTime(60_000);
  assert.ok(Math.abs(clock.serverTime(local) - 60_000) < 1e-6);
  assert.ok(Math.abs(local - (60_000 - 777)) <= 11);
});

test("clock: a nonsense round trip is refused", () => {
  const clock = new ClockEstimator();
  assert.equal(clock.addSample(100, 90, 5), false);
  assert.equal(clock.addSample(100, 110, Number.NaN), false);
  assert.equal(clock.ready, false);
});
