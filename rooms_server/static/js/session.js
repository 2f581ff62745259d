// What this phone remembers (localStorage): its guest identity, its device id and its own
// listening choices. Everything degrades to "for as long as the page lives" in private mode.

const SESSION_KEY = "rooms.session";
const DEVICE_KEY = "rooms.device";
const LISTEN_KEY = "rooms.listen."; // + group id: "off" when this phone should stay silent

function read(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    /* storage disabled: remembered for this page only */
  }
}

export function loadSession() {
  try {
    const session = JSON.parse(read(SESSION_KEY) || "null");
    return session && typeof session.token === "string" ? session : null;
  } catch {
    return null; // corrupt: behave as a new visitor
  }
}

export const saveSession = (session) => write(SESSION_KEY, JSON.stringify(session));
export const clearSession = () => write(SESSION_KEY, null);

let memoryDevice = null;

/** This browser's device id: random, made once, sent only in the room socket's hello. */
export function deviceId() {
  const stored = read(DEVICE_KEY);
  if (stored && /^[A-Za-z0-9_-]{16,64}$/.test(stored)) return stored;
  if (!memoryDevice) {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    memoryDevice = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  write(DEVICE_KEY, memoryDevice);
  return memoryDevice;
}

export const listensHere = (groupId) => read(LISTEN_KEY + groupId) !== "off";
export const setListensHere = (groupId, on) => write(LISTEN_KEY + groupId, on ? null : "off");
