// The rules of the room socket's life: which frame to apply, when to reconnect and how to resume.
// Pure: socket.js does the I/O.

// 4500–4999: the server says don't reconnect; these explain why.
export const FATAL = Object.freeze({
  4501: ["You're signed out", "Your identity on this phone expired or was revoked. Open the invite link again."],
  4503: ["You're not in this room", "You left the room or a host removed you. Ask for a new invite to come back."],
  4504: ["Room not found", "This room does not exist, or it is private and you are not a member."],
  4505: ["This room was deleted", "The host deleted the room. Thanks for listening!"],
  4508: [
    "This address is not allowed",
    "The server does not accept pages opened at this address. Open the address shown on the host's screen, or ask whoever runs the server to add this one to ALLOWED_ORIGINS.",
  ],
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

// A command whose answer was lost with the socket is sent again, with the same id, once the room is
// back (resumed or a snapshot): the server answers a command it already ran with its first answer
// (`duplicate: true`) and runs one it never got. Past this age the page stops trying and says so.
export const RESEND_WINDOW_MS = 60_000;

/** A UUID v4 for a command id: crypto.randomUUID where the page is a secure context, else from random bytes. */
export function commandId(cryptoApi = globalThis.crypto) {
  if (cryptoApi && typeof cryptoApi.randomUUID === "function") return cryptoApi.randomUUID();
  const bytes = new Uint8Array(16);
  cryptoApi.getRandomValues(bytes);
  bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The commands still unanswered after a reconnect: which to send again, which are too old. */
export function reconcile(pending, now, windowMs = RESEND_WINDOW_MS) {
  const resend = [];
  const expired = [];
  for (const [id, command] of pending) (now - command.sentAt <= windowMs ? resend : expired).push(id);
  return { resend, expired };
}
