// The room socket: hello, the first frame, events in order, commands with acks, reconnect and
// resume, and the clock sync pings. The rules live in resume.js, reducer.js and clock.js; this
// module does the I/O and tells the page through callbacks.

import { ClockEstimator, PING_SCHEDULE, monotonicNow } from "./clock.js";
import { applyEvent, applySnapshot, emptyRoom } from "./reducer.js";
import { PONG_TIMEOUT_MS, backoffMs, closeOutcome, commandId, eventAction, helloFrame, reconcile } from "./resume.js";

const OFFLINE_TEXT = "Offline: waiting for a network";

export class RoomConnection {
  /**
   * callbacks: onRoom(room, cause) with cause {snapshot} | {event} | {resumed}; onStatus(state, text);
   * onFatal(title, text); onNotice(frame); onClock() after each pong; onSignal(frame) for a frame
   * outside the room's event order (`invite_links_changed` sent to the hosts without a seq).
   */
  constructor({ groupId, token, deviceId, callbacks, now = monotonicNow }) {
    this.groupId = groupId;
    this.token = token;
    this.deviceId = deviceId;
    this.callbacks = callbacks;
    this.now = now;
    this.clock = new ClockEstimator();
    this.room = emptyRoom();
    this.canResume = false;
    this.ws = null;
    this.ready = false; // the first frame (snapshot or resumed) arrived
    this.stopped = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.burstTimer = null;
    this.awaitingPong = null; // the timer of the liveness probe in flight
    this.pending = new Map(); // id → {frame, ok, fail, sentAt}: sent, not answered yet
    this.offline = typeof navigator !== "undefined" && navigator.onLine === false;
    window.addEventListener("online", () => {
      this.offline = false;
      this.reconnectNow(true);
    });
    // The browser knows at once when the phone lost its network: say so now, not after a missed pong.
    window.addEventListener("offline", () => {
      this.offline = true;
      if (!this.stopped) this._lost(4000, "offline");
    });
    document.addEventListener("visibilitychange", () => this._onVisibility());
  }

  serverNow() {
    return this.clock.serverTime(this.now());
  }

  connect() {
    clearTimeout(this.retryTimer);
    if (this.stopped || this.ws) return;
    this.callbacks.onStatus(this.attempt ? "reconnecting" : "connecting", this.attempt ? "Reconnecting…" : "Connecting…");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/groups/${encodeURIComponent(this.groupId)}`);
    this.ws = ws;
    this.ready = false;
    ws.onopen = () => {
      const position = { epoch: this.room.epoch, seq: this.room.seq, canResume: this.canResume };
      ws.send(JSON.stringify(helloFrame({ token: this.token, deviceId: this.deviceId, position })));
    };
    ws.onmessage = (message) => {
      if (ws !== this.ws) return;
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      this._onFrame(frame);
    };
    ws.onclose = (event) => {
      if (ws === this.ws) this._lost(event.code, event.reason);
    };
  }

  /**
   * Send a command with a fresh id; its ack or error reaches onAck / onError. A command in flight
   * when the socket drops is sent again with the same id after the reconnect (see reconcile).
   * False when not connected.
   */
  send(frame, { onAck, onError } = {}) {
    const fail = onError || ((message) => this.callbacks.onError(message));
    if (!this.ws || !this.ready || this.ws.readyState !== WebSocket.OPEN) {
      fail(this.offline ? "You're offline. Try again when this phone has a network." : "Not connected right now; try again in a moment.");
      return false;
    }
    const id = commandId();
    this.pending.set(id, { frame: { ...frame, id }, ok: onAck || (() => {}), fail, sentAt: this.now() });
    this.ws.send(JSON.stringify({ ...frame, id }));
    return true;
  }

  /** After a reconnect: commands whose answer was lost go again with their ids; the server tells. */
  _resendUnanswered() {
    const { resend, expired } = reconcile(this.pending, this.now());
    for (const id of expired) {
      this.pending.get(id).fail("Not confirmed: the connection dropped. Check the room to see whether it happened.");
      this.pending.delete(id);
    }
    for (const id of resend) this.ws.send(JSON.stringify(this.pending.get(id).frame));
  }

  /** Try now instead of waiting for the backoff; `fresh` also abandons an attempt still hanging. */
  reconnectNow(fresh) {
    if (this.stopped || (this.ws && (this.ready || !fresh))) return;
    if (this.ws) this._drop(this.ws);
    this.ws = null;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  /** The page leaves the room: the socket closes and stays closed, and nothing is reported. */
  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this._stopPings();
    this.pending.clear();
    if (this.ws) this._drop(this.ws);
    this.ws = null;
    this.ready = false;
  }

  stop(title, text) {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    for (const [, command] of this.pending) command.fail("The room closed before the server answered.");
    this.pending.clear();
    this._stopPings();
    this.callbacks.onStatus("stopped", "Disconnected");
    this.callbacks.onFatal(title, text);
  }

  // -- frames --

  _onFrame(frame) {
    switch (frame.type) {
      case "snapshot":
        this.room = applySnapshot(this.room, frame);
        this.canResume = true;
        this._onReady();
        this.callbacks.onRoom(this.room, { snapshot: true });
        return;
      case "resumed":
        if (frame.epoch !== this.room.epoch || frame.seq !== this.room.seq) {
          this.canResume = false;
          this._lost(4000, "resume mismatch");
          return;
        }
        this._onReady();
        this.callbacks.onRoom(this.room, { resumed: true });
        return;
      case "pong":
        return this._onPong(frame);
      case "notice":
        return this.callbacks.onNotice(frame);
      case "ack":
      case "error": {
        const callbacks = frame.id ? this.pending.get(frame.id) : null;
        if (callbacks) {
          this.pending.delete(frame.id);
          if (frame.type === "ack") callbacks.ok(frame);
          else callbacks.fail(frame.message || frame.code, frame.code);
        } else if (frame.type === "error") {
          this.callbacks.onError(frame.message || frame.code);
        }
        return;
      }
      default:
        if (typeof frame.seq === "number" && typeof frame.epoch === "string") this._onEvent(frame);
        else if (frame.type === "invite_links_changed" && this.callbacks.onSignal) this.callbacks.onSignal(frame);
    }
  }

  _onEvent(event) {
    if (!this.ready) return;
    const action = eventAction(this.room, event);
    if (action === "skip") return;
    if (action !== "apply") {
      if (action === "resync") this.canResume = false;
      this._lost(4000, action === "resync" ? "new epoch" : "gap");
      return;
    }
    this.room = applyEvent(this.room, event);
    this.callbacks.onRoom(this.room, { event });
    if (event.type === "group_deleted") this.stop(...closeOutcome(4505).fatal);
  }

  _onReady() {
    this.ready = true;
    this.attempt = 0;
    this.callbacks.onStatus("connected", "Connected");
    this._resendUnanswered();
    this._burst();
  }

  // -- the clock: a burst of pings at connect, resume and visibility, then every few seconds --

  _ping() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    const frame = { type: "ping", client_time: this.now() };
    const rtt = this.clock.highRtt();
    if (rtt !== null) frame.rtt_ms = Math.min(rtt, 60_000);
    this.ws.send(JSON.stringify(frame));
  }

  _onPong(frame) {
    const receivedAt = this.now();
    if (this.clock.addSample(frame.client_time, receivedAt, frame.server_time)) this.callbacks.onClock();
    clearTimeout(this.awaitingPong);
    this.awaitingPong = null;
  }

  _burst() {
    this._stopPings();
    let left = PING_SCHEDULE.burst;
    const next = () => {
      if (!this.ready) return;
      this._ping();
      left -= 1;
      this.burstTimer = left > 0 ? setTimeout(next, PING_SCHEDULE.burstGapMs) : null;
      if (left === 0) this._periodic();
    };
    next();
  }

  _periodic() {
    clearTimeout(this.pingTimer);
    const every = document.visibilityState === "visible" ? PING_SCHEDULE.everyMs : PING_SCHEDULE.hiddenEveryMs;
    this.pingTimer = setTimeout(() => {
      this._probe();
      this._periodic();
    }, every);
  }

  /** A ping that must be answered: a network that died silently shows up as a missing pong. */
  _probe() {
    const ws = this.ws;
    if (!ws || !this.ready) return;
    this._ping();
    if (this.awaitingPong) return;
    this.awaitingPong = setTimeout(() => {
      if (ws === this.ws && this.awaitingPong) this._lost(4000, "no answer");
    }, PONG_TIMEOUT_MS);
  }

  _stopPings() {
    clearTimeout(this.pingTimer);
    clearTimeout(this.burstTimer);
    clearTimeout(this.awaitingPong);
    this.pingTimer = this.burstTimer = this.awaitingPong = null;
  }

  _onVisibility() {
    if (document.visibilityState !== "visible") return this._periodic();
    this.reconnectNow(false);
    if (this.ready) this._burst(); // after sleep: re-measure the clock at once (and check the socket)
  }

  // -- losing the socket --

  /** Forget the socket (without waiting for a close handshake a dead network never finishes). */
  _drop(ws) {
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close();
    } catch {
      /* already closed */
    }
  }

  _lost(code, reason) {
    if (this.ws) this._drop(this.ws);
    this.ws = null;
    this.ready = false;
    this._stopPings();
    // Unanswered commands stay pending: they go again, same ids, once the room is back.
    if (this.stopped) return;
    const outcome = closeOutcome(code, reason);
    if (outcome.fatal) return this.stop(...outcome.fatal);
    if (outcome.fresh) this.canResume = false; // the server could not keep our events: ask for a snapshot
    if (this.offline) {
      clearTimeout(this.retryTimer); // the `online` event reconnects
      this.callbacks.onStatus("offline", OFFLINE_TEXT);
      return;
    }
    const delay = backoffMs(this.attempt);
    this.attempt += 1;
    this.callbacks.onStatus("reconnecting", `Reconnecting in ${Math.max(1, Math.round(delay / 1000))} s…`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
