// The start page (/): start a room (this browser becomes its host, with a guest identity made on
// the spot), the rooms this browser belongs to, public rooms with search, and join with a code.

import { api, errorMessage } from "./api.js";
import { codeProblem, normalizeCode } from "./codes.js";
import { $, h, show } from "./dom.js";
import { phoneAddress } from "./format.js";
import { clearSession, loadSession, saveSession } from "./session.js";

const OFFLINE = "No connection to the server. Check this device's network, then try again.";
const roomUrl = (id) => `/groups/${encodeURIComponent(id)}`;

async function knownSession() {
  const session = loadSession();
  if (!session) return null;
  const me = await api("GET", "/api/me", { token: session.token });
  if (me.status === 401) {
    clearSession();
    return null;
  }
  if (me.status !== 200 || !me.data) return { session, me: null };
  const fresh = { ...session, user: { id: me.data.id, name: me.data.name } };
  saveSession(fresh);
  return { session: fresh, me: me.data };
}

/** The identity this browser holds, or a new guest named `name`. */
async function ensureSession(state, name) {
  if (state.session) return state.session;
  const created = await api("POST", "/api/users", { body: { name } });
  if (created.status !== 201) throw new Error(errorMessage(created, "That name does not work; try another one."));
  state.session = { token: created.data.token, user: created.data.user, expires_at: created.data.expires_at };
  saveSession(state.session);
  return state.session;
}

function roomItem(group, action) {
  const role = group.role || group.your_role;
  const meta = [
    role === "admin" ? "you host it" : role ? "member" : null,
    group.is_public ? "public" : "private",
    typeof group.member_count === "number" ? `${group.member_count} ${group.member_count === 1 ? "person" : "people"}` : null,
  ].filter(Boolean);
  return h(
    "li",
    { class: "room-item" },
    h("span", { class: "room-item-text" }, h("span", { class: "room-item-name" }, group.name), h("span", { class: "muted small" }, meta.join(" · "))),
    action,
  );
}

function renderMine(me) {
  const groups = (me && me.groups) || [];
  show($("mine-card"), groups.length > 0);
  $("mine").replaceChildren(
    ...groups.map((g) => roomItem(g, h("a", { class: "button secondary", href: roomUrl(g.id), "aria-label": `Open ${g.name}` }, "Open"))),
  );
}

function wireStart(state) {
  const modeHint = () => {
    const speaker = document.querySelector("input[name=mode]:checked").value === "speaker";
    $("mode-hint").textContent = speaker
      ? "Only the room's speaker plays (this laptop, say); the phones are remotes that add songs."
      : "Every phone in the room plays the music, in sync.";
  };
  for (const radio of document.querySelectorAll("input[name=mode]")) radio.addEventListener("change", modeHint);
  $("start-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("start-error");
    error.textContent = "";
    const name = $("start-name").value.trim();
    const you = $("start-you-name").value.trim();
    if (!name) return fail(error, "Give the room a name.", $("start-name"));
    if (!state.session && !you) return fail(error, "Type your name, so friends know who hosts.", $("start-you-name"));
    const isPublic = document.querySelector("input[name=visibility]:checked").value === "public";
    const mode = document.querySelector("input[name=mode]:checked").value;
    const submit = $("start-submit");
    submit.disabled = true;
    submit.textContent = "Starting…";
    try {
      const session = await ensureSession(state, you);
      const body = { name, is_public: isPublic };
      if (mode !== "everyone") body.listening_mode = mode;
      let created = await api("POST", "/api/groups", { body, token: session.token });
      if (created.status === 422 && body.listening_mode) {
        // A server that takes the mode only afterwards: create, then set it.
        created = await api("POST", "/api/groups", { body: { name, is_public: isPublic }, token: session.token });
        if (created.status === 201) {
          const path = `/api/groups/${encodeURIComponent(created.data.id)}`;
          await api("PATCH", path, { body: { listening_mode: mode }, token: session.token });
        }
      }
      if (created.status === 409) return fail(error, "A room with this name already exists. Pick another name.", $("start-name"));
      if (created.status !== 201) return fail(error, errorMessage(created, "Could not start the room. Try again."));
      // The invite exists from the start, so the room opens with its QR code and code ready.
      await api("POST", `/api/groups/${encodeURIComponent(created.data.id)}/invite`, { body: {}, token: session.token });
      location.assign(roomUrl(created.data.id));
    } catch (exc) {
      fail(error, exc instanceof TypeError ? OFFLINE : exc.message);
    } finally {
      submit.disabled = false;
      submit.textContent = "Start the room";
    }
  });
}

function fail(el, message, focus) {
  el.textContent = message;
  if (focus) focus.focus();
}

function wireCode() {
  $("code-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("code-error");
    error.textContent = "";
    const code = normalizeCode($("code-input").value);
    const problem = codeProblem(code);
    if (problem) return fail(error, problem, $("code-input"));
    try {
      const found = await api("GET", `/api/codes/${encodeURIComponent(code)}`);
      if (found.status === 200 && found.data && found.data.token) {
        location.assign(`/join/${encodeURIComponent(found.data.token)}`); // the invite's own join flow
      } else if (found.status === 429) {
        fail(error, "Too many tries from this network. Wait a minute, then try again.");
      } else if (found.status === 404 || found.status === 410) {
        fail(error, "No room has this code. It may have been replaced: check the code on the host's screen.", $("code-input"));
      } else {
        fail(error, errorMessage(found, "Could not look up the code. Try again."));
      }
    } catch {
      fail(error, OFFLINE);
    }
  });
}

function wirePublic(state) {
  const search = async () => {
    const q = $("public-q").value.trim();
    $("public-error").textContent = "";
    let result;
    try {
      result = await api("GET", `/api/groups?limit=20${q ? `&q=${encodeURIComponent(q)}` : ""}`);
    } catch {
      return fail($("public-error"), OFFLINE);
    }
    if (result.status !== 200 || !result.data) return fail($("public-error"), errorMessage(result, "Could not list the public rooms."));
    const items = result.data.items || [];
    $("public").replaceChildren(
      ...items.map((g) => {
        const button = h("button", { type: "button", class: "secondary", "aria-label": `Join ${g.name}` }, "Join");
        button.addEventListener("click", () => joinPublic(state, g));
        return roomItem(g, button);
      }),
    );
    show($("public-empty"), items.length === 0);
    $("public-empty").textContent = q ? `No public room matches “${q}”.` : "No public rooms yet.";
  };
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  search();
}

async function joinPublic(state, group) {
  const error = $("public-error");
  error.textContent = "";
  const you = $("start-you-name").value.trim();
  if (!state.session && !you) return fail(error, "Type your name in “Start a room” above first, then press Join.", $("start-you-name"));
  try {
    const session = await ensureSession(state, you);
    const joined = await api("POST", `/api/groups/${encodeURIComponent(group.id)}/join`, { token: session.token });
    if (joined.status === 200) location.assign(roomUrl(group.id));
    else fail(error, errorMessage(joined, "Could not join this room."));
  } catch (exc) {
    fail(error, exc instanceof TypeError ? OFFLINE : exc.message);
  }
}

async function serverLine() {
  try {
    const result = await api("GET", "/api/server");
    const addresses = (result.status === 200 && result.data && result.data.addresses) || [];
    const other = phoneAddress(addresses, location.origin);
    if (other) {
      $("server-line").textContent = `This is the server's own address: phones on the Wi-Fi open ${other}`;
      show($("server-line"), true);
    }
  } catch {
    /* optional */
  }
}

async function main() {
  const state = { session: null };
  wireStart(state);
  wireCode();
  wirePublic(state);
  serverLine();
  try {
    const known = await knownSession();
    state.session = known ? known.session : null;
    renderMine(known && known.me);
  } catch {
    state.session = loadSession();
  }
  show($("start-you"), !state.session);
}

main();
