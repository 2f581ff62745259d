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

export function errorMessage(result, fallback) {
  const message = result && result.data && result.data.error && result.data.error.message;
  return message || fallback;
}
