// The rules of the room socket's life: which frame to apply, when to reconnect and how to resume.
// Pure: socket.js does the I/O.

// 4500–4999: the server says don't reconnect; these explain why.
export const FATAL = Object.freeze({
  4501: ["You're signed out", "Your identity on this phone expired or was revoked. Open the invite link again."],
  4503: ["You're not in this room", "You left the room or a host removed you. Ask for a new invite to come back."],
  4504: ["Room not found", "This room does not exist, or it is private and you are not a member."],
  4505: ["This room was deleted", "The host deleted the room. Thanks for listening!"],
  4508: ["Not allowed from this address", "The server does not accept this page's address (ALLOWED_ORIGINS)."],
  4509: ["Too many open pages", "You have this room open on too many tabs or phones. Close some, then reload."],
  4510: ["Disconnected", "The server closed the connection after too many bad messages. Reload the page."],
});

export const BACKOFF_MS = Object.freeze([500, 1000, 2000, 4000, 8000, 15000]);
export const PONG_TIMEOUT_MS = 8000;

/** What to do with a frame that carries (epoch, seq), given the last (epoch, seq) applied. */
export function eventAction(position, event) {
  if (event.epoch !== position.epoch) return "resync"; // the room was rebuilt: start over
  if (event.seq <= position.seq) return "skip"; // already applied (a replay overlapping live events)
  if (event.seq !== position.seq + 1) return "resume"; // a gap: reconnect and let the server replay it
  return "apply";
}

/** The first frame of a connection; resumes from the last applied event when that is allowed. */
export function helloFrame({ token, deviceId, position }) {
  const hello = { type: "hello", token };
  if (deviceId) hello.device_id = deviceId;
  if (position && position.canResume && position.epoch !== null) {
    hello.resume = { epoch: position.epoch, seq: position.seq };
  }
  return hello;
}

/** How a close code ends: {fatal: [title, text]} or {retry: true, fresh} (fresh: ask for a snapshot). */
export function closeOutcome(code, reason) {
  if (code >= 4500 && code <= 4999) {
    return { fatal: FATAL[code] || ["Disconnected", reason || `The server closed the room (code ${code}).`] };
  }
  return { retry: true, fresh: code === 4010 };
}

/** The wait before reconnect attempt `attempt` (0-based): the backoff step ±25 % jitter. */
export function backoffMs(attempt, random = Math.random) {
  const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
  return Math.round(base * (0.75 + random() * 0.5));
}
