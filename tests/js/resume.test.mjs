import assert from "node:assert/strict";
import { test } from "node:test";

import { backoffMs, closeOutcome, eventAction, helloFrame } from "../../rooms_server/static/js/resume.js";

test("resume: events apply strictly in order; a gap resumes, a new epoch resyncs", () => {
  const at = { epoch: "e", seq: 7 };
  assert.equal(eventAction(at, { epoch: "e", seq: 8 }), "apply");
  assert.equal(eventAction(at, { epoch: "e", seq: 7 }), "skip");
  assert.equal(eventAction(at, { epoch: "e", seq: 3 }), "skip");
  assert.equal(eventAction(at, { epoch: "e", seq: 10 }), "resume");
  assert.equal(eventAction(at, { epoch: "f", seq: 1 }), "resync");
});

test("resume: hello names the device and resumes only when it may", () => {
  assert.deepEqual(helloFrame({ token: "t", deviceId: null, position: null }), { type: "hello", token: "t" });
  const position = { epoch: "e", seq: 9, canResume: true };
  assert.deepEqual(helloFrame({ token: "t", deviceId: "d".repeat(22), position }), {
    type: "hello",
    token: "t",
    device_id: "d".repeat(22),
    resume: { epoch: "e", seq: 9 },
  });
  assert.equal("resume" in helloFrame({ token: "t", position: { ...position, canResume: false } }), false);
});

test("resume: terminal codes stop, the others retry (4010 with a fresh snapshot)", () => {
  assert.equal(closeOutcome(4505).fatal[0], "This room was deleted");
  assert.match(closeOutcome(4999, "gone").fatal[1], /gone/);
  assert.deepEqual(closeOutcome(4010), { retry: true, fresh: true });
  assert.deepEqual(closeOutcome(1012), { retry: true, fresh: false });
});

test("resume: backoff grows to 15 s with ±25 % jitter", () => {
  assert.equal(backoffMs(0, () => 0.5), 500);
  assert.equal(backoffMs(1, () => 0), 750);
  assert.equal(backoffMs(99, () => 1), 18750);
});
