// The phone pages of rooms_server: the invite page (/join/{token}) and the room page
// (/groups/{id}). Plain ES module, no build step, no dependencies. Every piece of user data is
// written with textContent (or as an attribute); nothing built from data goes through innerHTML.

const SESSION_KEY = "rooms.session";
const $ = (id) => document.getElementById(id);

// -- small helpers ------------------------------------------------------------------------------

/** An element with properties, attributes and children (strings become text nodes). */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

function show(el, visible) {
  el.toggleAttribute("hidden", !visible); // an attribute, so that it works on SVG elements too
}

function loadSession() {
  try {
    const raw = localStorage.getItem(SESSION_KEY);
    const session = raw ? JSON.parse(raw) : null;
    return session && typeof session.token === "string" ? session : null;
  } catch {
    return null; // storage disabled or corrupt: behave as a new visitor
  }
}

function saveSession(session) {
  try {
    localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  } catch {
    /* private mode: the session lives as long as the page */
  }
}

function clearSession() {
  try {
    localStorage.removeItem(SESSION_KEY);
  } catch {
    /* nothing stored */
  }
}

/** JSON over HTTP: resolves to {status, data}; rejects only when the network fails. */
async function api(method, path, { body, token } = {}) {
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

function errorMessage(result, fallback) {
  const message = result && result.data && result.data.error && result.data.error.message;
  return message || fallback;
}

function formatTime(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

/** "3:30", "1:02:03" or "210" → seconds; null when blank; NaN when not a length. */
function parseDuration(text) {
  const value = text.trim();
  if (!value) return null;
  if (!/^\d+(:\d{1,2}){0,2}$/.test(value)) return NaN;
  return value.split(":").reduce((acc, part) => acc * 60 + Number(part), 0);
}

function guessService(url) {
  if (/spotify\.com|^spotify:/i.test(url)) return "spotify";
  if (/youtu\.?be/i.test(url)) return "youtube";
  return null;
}

function safeHref(url) {
  return /^https?:\/\//i.test(url) ? url : null;
}

// -- the invite page ------------------------------------------------------------------------------

async function initJoin() {
  const token = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
  const problem = (title, text) => {
    show($("join-loading"), false);
    show($("join-ok"), false);
    $("problem-title").textContent = title;
    $("problem-text").textContent = text;
    show($("join-problem"), true);
    document.title = title;
  };
  const inviteProblem = (result) => {
    if (result.status === 410) {
      problem("This invite has expired", "Invites only work for a while, and this one has run out.");
    } else if (result.status === 404) {
      problem("This invite is no longer valid", "The host has replaced or revoked it, or the link is incomplete.");
    } else {
      problem("Something went wrong", errorMessage(result, "The server could not open this invite right now."));
    }
  };

  let invite;
  try {
    invite = await api("GET", `/api/invites/${encodeURIComponent(token)}`);
  } catch {
    problem("No connection", "Check that this phone is online (and on the same network as the host), then reload.");
    return;
  }
  if (invite.status !== 200 || !invite.data || !invite.data.group) {
    inviteProblem(invite);
    return;
  }
  const group = invite.data.group;
  $("group-name").textContent = group.name;
  document.title = `Join ${group.name}`;

  // A phone that already has an identity keeps it (same name, same token) while it is valid.
  let session = loadSession();
  if (session) {
    try {
      const me = await api("GET", "/api/me", { token: session.token });
      if (me.status === 200 && me.data) {
        session = { ...session, user: { id: me.data.id, name: me.data.name } };
        saveSession(session);
        $("join-name").value = me.data.name;
        $("join-hint").textContent = `Welcome back, ${me.data.name}. Change the name to join as someone else.`;
      } else if (me.status === 401) {
        clearSession();
        session = null;
      }
    } catch {
      /* offline: the join below reports it */
    }
  }
  show($("join-loading"), false);
  show($("join-ok"), true);
  if (!$("join-name").value) $("join-name").focus();

  const form = $("join-form");
  const submit = $("join-submit");
  const error = $("join-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const name = $("join-name").value.trim();
    if (!name) {
      error.textContent = "Please enter a name.";
      $("join-name").focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Joining…";
    try {
      if (!session || session.user.name !== name) {
        const created = await api("POST", "/api/users", { body: { name } });
        if (created.status !== 201) {
          error.textContent = errorMessage(created, "That name does not work; try another one.");
          return;
        }
        session = { token: created.data.token, user: created.data.user, expires_at: created.data.expires_at };
        saveSession(session);
      }
      const joined = await api("POST", `/api/invites/${encodeURIComponent(token)}/join`, { token: session.token });
      if (joined.status === 200 && joined.data) {
        location.assign(`/groups/${encodeURIComponent(joined.data.id)}`);
        return;
      }
      if (joined.status === 401) {
        clearSession();
        session = null;
        error.textContent = "Your saved identity has expired. Press Join again.";
      } else if (joined.status === 404 || joined.status === 410) {
        inviteProblem(joined);
      } else {
        error.textContent = errorMessage(joined, "Could not join the room. Try again.");
      }
    } catch {
      error.textContent = "No connection to the server. Try again.";
    } finally {
      submit.disabled = false;
      submit.textContent = "Join the room";
    }
  });
}

// -- the room page --------------------------------------------------------------------------------

// 4500–4999: the server says don't reconnect; these explain why.
const FATAL = {
  4501: ["You're signed out", "Your identity on this phone expired or was revoked. Open the invite link again."],
  4503: ["You're not in this room", "You left the room or a host removed you. Ask for a new invite to come back."],
  4504: ["Room not found", "This room does not exist, or it is private and you are not a member."],
  4505: ["This room was deleted", "The host deleted the room. Thanks for listening!"],
  4508: ["Not allowed from this address", "The server does not accept this page's address (ALLOWED_ORIGINS)."],
  4509: ["Too many open pages", "You have this room open on too many tabs or phones. Close some, then reload."],
  4510: ["Disconnected", "The server closed the connection after too many bad messages. Reload the page."],
};
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const PING_EVERY_MS = 15000;
const PONG_TIMEOUT_MS = 8000;
const CLOCK_SAMPLES = 8;

function initRoom() {
  const groupId = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
  const session = loadSession();
  const room = {
    epoch: null,
    seq: 0,
    canResume: false,
    group: null,
    tracks: [],
    index: 0,
    playback: { is_playing: false, position_ms: 0, server_time_ms: 0 },
    votes: { track_id: null, votes: 0, needed: 1 },
    members: new Map(),
    you: null,
    chat: [],
  };
  const conn = {
    ws: null,
    ready: false, // the first frame (snapshot or resumed) arrived
    stopped: false,
    attempt: 0,
    retryTimer: null,
    pingTimer: null,
    awaitingPong: false,
    nextId: 1,
    pending: new Map(),
  };
  const clock = { offset: 0, samples: [] };
  let invite = null;
  let qrUrl = null;

  const isAdmin = () => room.you !== null && room.you.role === "admin";
  const serverNow = () => Date.now() + clock.offset;
  const currentTrack = () => room.tracks[room.index] || null;

  // -- status and fatal errors --

  function setStatus(state, text) {
    $("status").dataset.state = state;
    $("status-text").textContent = text;
  }

  function fatal(title, text) {
    conn.stopped = true;
    clearTimeout(conn.retryTimer);
    clearInterval(conn.pingTimer);
    setStatus("stopped", "Disconnected");
    $("fatal-title").textContent = title;
    $("fatal-text").textContent = text;
    show($("fatal"), true);
    show($("room"), false);
  }

  if (!session) {
    show($("you"), false);
    fatal("Open your invite link first", "This phone has not joined the room yet. Scan the host's QR code to join.");
    return;
  }

  // -- the socket: connect, first frame, reconnect with backoff --

  function connect() {
    clearTimeout(conn.retryTimer);
    if (conn.stopped || conn.ws) return;
    if (conn.attempt) setStatus("reconnecting", "Reconnecting…");
    else setStatus("connecting", "Connecting…");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/groups/${encodeURIComponent(groupId)}`);
    conn.ws = ws;
    conn.ready = false;
    ws.onopen = () => {
      const hello = { type: "hello", token: session.token };
      if (room.canResume && room.epoch !== null) hello.resume = { epoch: room.epoch, seq: room.seq };
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (message) => {
      if (ws !== conn.ws) return;
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      onFrame(frame);
    };
    ws.onclose = (event) => {
      if (ws !== conn.ws) return;
      lost(event.code, event.reason);
    };
  }

  /** Forget the socket (without waiting for a close handshake a dead network never finishes). */
  function drop(ws) {
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close();
    } catch {
      /* already closed */
    }
  }

  function lost(code, reason) {
    if (conn.ws) drop(conn.ws);
    conn.ws = null;
    conn.ready = false;
    conn.awaitingPong = false;
    clearInterval(conn.pingTimer);
    for (const [, callbacks] of conn.pending) callbacks.fail("The connection dropped before the server answered.");
    conn.pending.clear();
    if (conn.stopped) return;
    if (code >= 4500 && code <= 4999) {
      const [title, text] = FATAL[code] || ["Disconnected", reason || `The server closed the room (code ${code}).`];
      fatal(title, text);
      return;
    }
    if (code === 4010) room.canResume = false; // the server could not keep our events: ask for a snapshot
    const base = BACKOFF_MS[Math.min(conn.attempt, BACKOFF_MS.length - 1)];
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    conn.attempt += 1;
    setStatus("reconnecting", `Reconnecting in ${Math.max(1, Math.round(delay / 1000))} s…`);
    conn.retryTimer = setTimeout(connect, delay);
  }

  /** Try now instead of waiting for the backoff; `fresh` also abandons an attempt still hanging. */
  function reconnectNow(fresh) {
    if (conn.stopped || (conn.ws && (conn.ready || !fresh))) return;
    if (conn.ws) drop(conn.ws);
    conn.ws = null;
    clearTimeout(conn.retryTimer);
    connect();
  }

  // A phone that finds its network again (or is unlocked) reconnects at once.
  window.addEventListener("online", () => reconnectNow(true));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    reconnectNow(false);
    probe(); // after sleep, check at once that the socket still works
  });

  function send(frame, { onAck, onError } = {}) {
    if (!conn.ws || !conn.ready || conn.ws.readyState !== WebSocket.OPEN) {
      (onError || flash)("Not connected right now; try again in a moment.");
      return false;
    }
    const id = `c${conn.nextId++}`;
    conn.pending.set(id, { ok: onAck || (() => {}), fail: onError || ((message) => flash(message)) });
    conn.ws.send(JSON.stringify({ ...frame, id }));
    return true;
  }

  // -- clock sync: ping/pong, keep the offset of the fastest recent round trip --

  function ping() {
    if (!conn.ws || conn.ws.readyState !== WebSocket.OPEN) return;
    conn.ws.send(JSON.stringify({ type: "ping", client_time: Date.now() }));
  }

  function startClockSync() {
    clearInterval(conn.pingTimer);
    for (let i = 0; i < 4; i += 1) setTimeout(ping, i * 250);
    conn.pingTimer = setInterval(probe, PING_EVERY_MS);
  }

  /** A ping that must be answered: a network that died silently shows up as a missing pong. */
  function probe() {
    const ws = conn.ws;
    if (!ws || !conn.ready || conn.awaitingPong) return;
    conn.awaitingPong = true;
    ping();
    setTimeout(() => {
      if (ws === conn.ws && conn.awaitingPong) lost(4000, "no answer");
    }, PONG_TIMEOUT_MS);
  }

  function onPong(frame) {
    conn.awaitingPong = false;
    const now = Date.now();
    const rtt = now - frame.client_time;
    if (!(rtt >= 0)) return;
    clock.samples.push({ rtt, offset: frame.server_time - (frame.client_time + rtt / 2) });
    if (clock.samples.length > CLOCK_SAMPLES) clock.samples.shift();
    clock.offset = clock.samples.reduce((best, s) => (s.rtt < best.rtt ? s : best)).offset;
  }

  // -- frames --

  function onFrame(frame) {
    switch (frame.type) {
      case "snapshot":
        return onSnapshot(frame);
      case "resumed":
        if (frame.epoch !== room.epoch || frame.seq !== room.seq) {
          room.canResume = false;
          lost(4000, "resume mismatch");
          return;
        }
        return onReady();
      case "pong":
        return onPong(frame);
      case "ack":
      case "error": {
        const callbacks = frame.id ? conn.pending.get(frame.id) : null;
        if (callbacks) {
          conn.pending.delete(frame.id);
          if (frame.type === "ack") callbacks.ok(frame);
          else callbacks.fail(frame.message || frame.code);
        } else if (frame.type === "error") {
          flash(frame.message || frame.code);
        }
        return;
      }
      default:
        if (typeof frame.seq === "number" && typeof frame.epoch === "string") onEvent(frame);
    }
  }

  function onSnapshot(frame) {
    room.epoch = frame.epoch;
    room.seq = frame.seq;
    room.canResume = true;
    room.group = frame.group;
    room.tracks = frame.playlist.tracks.slice();
    room.index = frame.playlist.current_index;
    room.playback = frame.playback;
    room.votes = frame.votes;
    room.members = new Map(frame.members.map((m) => [m.user_id, m]));
    room.you = frame.you;
    if (!clock.samples.length) clock.offset = frame.server_time - Date.now();
    onReady();
    renderAll();
    loadInvite();
  }

  function onReady() {
    conn.ready = true;
    conn.attempt = 0;
    setStatus("connected", "Connected");
    show($("room"), true);
    startClockSync();
  }

  /** Events apply strictly in seq order; a gap or a foreign epoch means resync through a reconnect. */
  function onEvent(event) {
    if (!conn.ready) return;
    if (event.epoch !== room.epoch) {
      room.canResume = false;
      lost(4000, "new epoch");
      return;
    }
    if (event.seq <= room.seq) return; // already applied
    if (event.seq !== room.seq + 1) {
      lost(4000, "gap"); // resume from the last applied seq: the server replays what we missed
      return;
    }
    apply(event);
    room.seq = event.seq;
  }

  function apply(event) {
    switch (event.type) {
      case "track_added":
        room.tracks.splice(event.index, 0, event.track);
        return renderTracks();
      case "track_removed":
        room.tracks = room.tracks.filter((t) => t.id !== event.track_id);
        return renderTracks();
      case "track_moved": {
        const track = room.tracks.find((t) => t.id === event.track_id);
        if (!track) return;
        room.tracks = room.tracks.filter((t) => t.id !== event.track_id);
        room.tracks.splice(event.index, 0, track);
        return renderTracks();
      }
      case "index_changed":
        room.index = event.index;
        return renderTracks();
      case "playback_changed":
        room.playback = event.playback;
        return renderNow();
      case "votes_changed":
        room.votes = { track_id: event.track_id, votes: event.votes, needed: event.needed ?? room.votes.needed };
        return renderNow();
      case "member_joined":
        room.members.set(event.user_id, { user_id: event.user_id, name: event.name, role: event.role });
        return renderPeople();
      case "member_left":
      case "member_removed":
        room.members.delete(event.user_id);
        return renderPeople();
      case "role_changed": {
        const member = room.members.get(event.user_id);
        if (member) member.role = event.role;
        if (room.you && room.you.user_id === event.user_id) {
          room.you.role = event.role;
          loadInvite();
        }
        return renderAll();
      }
      case "chat":
        addChat({ kind: "chat", name: event.name, text: event.text, mine: isMine(event.user_id), ts: event.ts });
        return;
      case "reaction":
        addChat({ kind: "reaction", name: event.name, text: event.emoji, mine: isMine(event.user_id), ts: event.ts });
        return;
      case "group_changed":
        room.group = { ...room.group, name: event.name, is_public: event.is_public };
        return renderHeader();
      case "group_deleted":
        return fatal(...FATAL[4505]);
      default:
        return; // an event type this page does not know yet
    }
  }

  const isMine = (userId) => room.you !== null && room.you.user_id === userId;

  // -- rendering --

  function renderAll() {
    renderHeader();
    renderTracks();
    renderPeople();
    renderChat();
  }

  function renderHeader() {
    if (!room.group) return;
    $("room-name").textContent = room.group.name;
    document.title = `${room.group.name} · Listening Rooms`;
    if (room.you) {
      $("you").textContent = `You are ${room.you.name}${isAdmin() ? " · host" : ""}`;
    }
    for (const el of document.querySelectorAll("[data-admin]")) show(el, isAdmin());
    for (const el of document.querySelectorAll("[data-member]")) show(el, !isAdmin());
    $("progress").classList.toggle("seekable", isAdmin());
    $("progress").title = isAdmin() ? "Tap to seek" : "";
  }

  function renderTracks() {
    renderNow();
    const list = $("queue");
    const items = room.tracks.map((track, i) => queueItem(track, i));
    list.replaceChildren(...items);
    show($("queue-empty"), room.tracks.length === 0);
    $("queue-count").textContent = room.tracks.length ? `(${room.tracks.length})` : "";
  }

  function queueItem(track, i) {
    const current = i === room.index;
    const played = i < room.index;
    const href = safeHref(track.url);
    const title = href
      ? h("a", { class: "track-title", href, target: "_blank", rel: "noopener noreferrer" }, track.title)
      : h("span", { class: "track-title" }, track.title);
    const meta = h(
      "span",
      { class: "track-meta" },
      `${track.service === "spotify" ? "Spotify" : "YouTube"} · ${formatTime(track.duration_s * 1000)} · added by `,
      h("span", { class: "added-by" }, track.added_by_name),
    );
    const label = track.title.length > 60 ? `${track.title.slice(0, 60)}…` : track.title;
    const button = (text, aria, onclick, extra = {}) =>
      h("button", { type: "button", class: "mini", "aria-label": aria, onclick, ...extra }, text);
    const buttons = [];
    if (isAdmin()) {
      buttons.push(
        button("▶ Play", `Play ${label} now`, () => jump(track), { class: "mini wide", disabled: current }),
        button("↑", `Move ${label} up`, () => move(track, -1), { disabled: i === 0 }),
        button("↓", `Move ${label} down`, () => move(track, +1), { disabled: i === room.tracks.length - 1 }),
      );
    }
    if (isAdmin() || isMine(track.added_by)) {
      buttons.push(button("✕", `Remove ${label}`, () => remove(track), { class: "mini danger" }));
    }
    return h(
      "li",
      {
        class: `track${current ? " current" : ""}${played ? " played" : ""}`,
        "data-track-id": track.id,
        "aria-current": current ? "true" : null,
      },
      h("span", { class: "track-number", "aria-hidden": "true" }, current ? "♪" : String(i + 1)),
      h("span", { class: "track-text" }, title, meta),
      buttons.length ? h("span", { class: `track-actions${isAdmin() ? " below" : ""}` }, buttons) : null,
    );
  }

  function renderNow() {
    const track = currentTrack();
    $("now-title").textContent = track ? track.title : room.tracks.length ? "End of the queue" : "Nothing yet";
    $("now-meta").textContent = track
      ? `Added by ${track.added_by_name} · ${track.service === "spotify" ? "Spotify" : "YouTube"}`
      : room.tracks.length
        ? "Go back a track, or add more songs."
        : "Add a song below to get started.";
    const playing = room.playback.is_playing && track !== null;
    show($("icon-play"), !playing);
    show($("icon-pause"), playing);
    $("btn-play").setAttribute("aria-label", playing ? "Pause" : "Play");
    $("btn-play").disabled = track === null;
    $("btn-skip").disabled = track === null;
    $("btn-previous").disabled = room.tracks.length === 0;
    const votes = room.votes.track_id !== null && track && room.votes.track_id === track.id ? room.votes.votes : 0;
    $("btn-vote").textContent = `Vote to skip (${votes}/${room.votes.needed})`;
    $("btn-vote").disabled = track === null;
    updateProgress();
  }

  function updateProgress() {
    const track = currentTrack();
    const duration = track ? track.duration_s * 1000 : 0;
    const p = room.playback;
    let position = p.position_ms;
    const now = serverNow();
    // A start may be scheduled a little in the future; until then the position holds.
    if (p.is_playing && now > p.server_time_ms) position += now - p.server_time_ms;
    position = Math.min(Math.max(position, 0), duration);
    const fraction = duration ? position / duration : 0;
    $("progress-fill").style.width = `${(fraction * 100).toFixed(2)}%`;
    const bar = $("progress");
    bar.setAttribute("aria-valuemax", String(Math.round(duration / 1000)));
    bar.setAttribute("aria-valuenow", String(Math.round(position / 1000)));
    bar.setAttribute("aria-valuetext", `${formatTime(position)} of ${formatTime(duration)}`);
    $("time-now").textContent = formatTime(position);
    $("time-total").textContent = formatTime(duration);
    let state = "";
    if (track) state = !p.is_playing ? "Paused" : now < p.server_time_ms ? "Starting…" : "Playing";
    $("play-state").textContent = state;
  }

  function renderPeople() {
    const people = [...room.members.values()].sort((a, b) =>
      a.role === b.role ? a.name.localeCompare(b.name) : a.role === "admin" ? -1 : 1,
    );
    $("people").replaceChildren(
      ...people.map((m) =>
        h(
          "li",
          { class: `person${isMine(m.user_id) ? " me" : ""}` },
          h("span", { class: "avatar", "aria-hidden": "true" }, (m.name.trim()[0] || "?").toUpperCase()),
          h("span", { class: "person-name" }, m.name),
          m.role === "admin" ? h("span", { class: "badge" }, "host") : null,
          isMine(m.user_id) ? h("span", { class: "badge you-badge" }, "you") : null,
        ),
      ),
    );
    $("people-count").textContent = `(${people.length})`;
  }

  function chatItem(entry) {
    return h(
      "li",
      { class: `message${entry.mine ? " mine" : ""}${entry.kind === "reaction" ? " reaction" : ""}` },
      h("span", { class: "message-name" }, entry.name),
      h("span", { class: "message-text" }, entry.kind === "reaction" ? `reacted ${entry.text}` : entry.text),
    );
  }

  /** One new line (the log is a live region: re-rendering it would read everything out again). */
  function addChat(entry) {
    const log = $("chat-log");
    room.chat.push(entry);
    log.append(chatItem(entry));
    if (room.chat.length > 100) {
      room.chat.shift();
      log.firstElementChild.remove();
    }
    show($("chat-empty"), false);
    log.scrollTop = log.scrollHeight;
  }

  function renderChat() {
    const log = $("chat-log");
    log.replaceChildren(...room.chat.map(chatItem));
    show($("chat-empty"), room.chat.length === 0);
    log.scrollTop = log.scrollHeight;
  }

  let flashTimer = null;
  function flash(message) {
    const el = $("now-error");
    el.textContent = message;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => (el.textContent = ""), 6000);
  }

  // -- commands --

  function jump(track) {
    send({ type: "jump", track_id: track.id });
  }

  function move(track, direction) {
    const i = room.tracks.findIndex((t) => t.id === track.id);
    const target = i + direction;
    if (i < 0 || target < 0 || target >= room.tracks.length) return;
    // Commands name tracks, never positions: up = after the track two above; down = after the one below.
    const after = direction < 0 ? (target === 0 ? null : room.tracks[target - 1].id) : room.tracks[target].id;
    send({ type: "move", track_id: track.id, after_track_id: after });
  }

  function remove(track) {
    send({ type: "remove", track_id: track.id });
  }

  $("btn-play").addEventListener("click", () => {
    send({ type: room.playback.is_playing ? "pause" : "play" });
  });
  $("btn-skip").addEventListener("click", () => {
    const track = currentTrack();
    if (track) send({ type: "skip", expected_track_id: track.id });
  });
  $("btn-previous").addEventListener("click", () => {
    const track = currentTrack();
    send({ type: "previous", expected_track_id: track ? track.id : null });
  });
  // Hosts seek by tapping the progress bar.
  $("progress").addEventListener("click", (event) => {
    const track = currentTrack();
    if (!isAdmin() || !track) return;
    const box = $("progress").getBoundingClientRect();
    const fraction = Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1);
    send({ type: "seek", position_ms: Math.round(fraction * track.duration_s * 1000) });
  });
  $("btn-vote").addEventListener("click", () => {
    const track = currentTrack();
    if (track) send({ type: "vote_skip", track_id: track.id });
  });

  $("add-url").addEventListener("input", () => {
    const service = guessService($("add-url").value);
    if (service) $("add-service").value = service;
  });

  $("add-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const error = $("add-error");
    error.textContent = "";
    const url = $("add-url").value.trim();
    const title = $("add-title").value.trim();
    const duration = parseDuration($("add-duration").value);
    if (!url) {
      error.textContent = "Paste a link to a song.";
      return $("add-url").focus();
    }
    if (Number.isNaN(duration) || duration === 0) {
      error.textContent = "Write the length as minutes:seconds, e.g. 3:30.";
      return $("add-duration").focus();
    }
    const frame = { type: "add", service: $("add-service").value, url };
    if (title) frame.title = title;
    if (duration !== null) frame.duration = duration;
    send(frame, {
      onAck: () => {
        $("add-form").reset();
        $("add-url").focus();
      },
      onError: (message) => (error.textContent = message),
    });
  });

  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("chat-text");
    const text = input.value.trim();
    if (!text) return;
    $("chat-error").textContent = "";
    send(
      { type: "chat", text },
      { onAck: () => (input.value = ""), onError: (message) => ($("chat-error").textContent = message) },
    );
  });

  // -- the invite (QR code) --

  async function loadInvite() {
    let result;
    try {
      result = await api("GET", `/api/groups/${encodeURIComponent(groupId)}/invite`, { token: session.token });
    } catch {
      return;
    }
    if (result.status === 200 && result.data) await showInvite(result.data);
    else showInvite(null);
  }

  async function showInvite(data) {
    invite = data;
    const card = $("invite-card");
    // Members see the code when there is one; hosts always see the card to create or rotate it.
    show(card, isAdmin() || invite !== null);
    show($("invite-show"), invite !== null);
    show($("invite-none"), invite === null);
    show($("btn-copy"), invite !== null);
    show($("btn-revoke"), isAdmin() && invite !== null);
    $("btn-rotate").textContent = invite ? "New invite" : "Create invite";
    if (!invite) {
      if (qrUrl) URL.revokeObjectURL(qrUrl);
      qrUrl = null;
      $("invite-qr").removeAttribute("src");
      return;
    }
    const link = $("invite-url");
    link.textContent = invite.url;
    link.href = safeHref(invite.url) || "#";
    const expires = new Date(invite.expired_at);
    $("invite-expiry").textContent = Number.isNaN(expires.getTime())
      ? ""
      : `Valid until ${expires.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`;
    try {
      const response = await fetch(`/api/groups/${encodeURIComponent(groupId)}/invite/qr.png?size=6`, {
        headers: { Authorization: `Bearer ${session.token}` },
        cache: "no-store",
      });
      if (!response.ok) throw new Error(String(response.status));
      const blob = await response.blob();
      if (invite !== data) return; // replaced meanwhile
      if (qrUrl) URL.revokeObjectURL(qrUrl);
      qrUrl = URL.createObjectURL(blob);
      $("invite-qr").src = qrUrl;
    } catch {
      $("invite-error").textContent = "Could not load the QR image; the link above works too.";
    }
  }

  $("btn-rotate").addEventListener("click", async () => {
    $("invite-error").textContent = "";
    try {
      const result = await api("POST", `/api/groups/${encodeURIComponent(groupId)}/invite`, {
        body: {},
        token: session.token,
      });
      if (result.status === 201 || result.status === 200) await showInvite(result.data);
      else $("invite-error").textContent = errorMessage(result, "Could not create an invite.");
    } catch {
      $("invite-error").textContent = "No connection to the server.";
    }
  });

  $("btn-revoke").addEventListener("click", async () => {
    $("invite-error").textContent = "";
    try {
      const result = await api("DELETE", `/api/groups/${encodeURIComponent(groupId)}/invite`, { token: session.token });
      if (result.status === 204 || result.status === 404) showInvite(null);
      else $("invite-error").textContent = errorMessage(result, "Could not revoke the invite.");
    } catch {
      $("invite-error").textContent = "No connection to the server.";
    }
  });

  $("btn-copy").addEventListener("click", async () => {
    if (!invite) return;
    try {
      await navigator.clipboard.writeText(invite.url);
      $("btn-copy").textContent = "Copied";
    } catch {
      // No clipboard on plain http: select the link so the phone offers to copy it.
      const range = document.createRange();
      range.selectNodeContents($("invite-url"));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      $("btn-copy").textContent = "Selected";
    }
    setTimeout(() => ($("btn-copy").textContent = "Copy link"), 2000);
  });

  setInterval(updateProgress, 250);
  connect();
}

if (document.body.dataset.page === "join") initJoin();
else if (document.body.dataset.page === "room") initRoom();
