// JSON over HTTP against the server's own API.

/** Resolves to {status, data}; rejects only when the network fails. */
export async function api(method, path, { body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  return { status: response.status, data };
}

// Plain words for the errors a person can meet whatever they were doing.
const PLAIN = {
  origin_refused:
    "The server does not accept pages opened at this address. Open the address shown on the host's screen, or ask whoever runs the server to add this one to ALLOWED_ORIGINS.",
  rate_limited: "Too many tries from this network. Wait a minute, then try again.",
  unavailable: "The server is busy right now. Try again in a few seconds.",
  listeners_cannot_add: "You're listening — only members can add songs.",
  is_host: "Only the host can change the host's role: the host hands the room over first.",
  invite_used_up: "This invite has been used up; ask the host for a new one.",
};

export function errorMessage(result, fallback) {
  const error = result && result.data && result.data.error;
  if (error && PLAIN[error.code]) return PLAIN[error.code];
  return (error && error.message) || fallback;
}
