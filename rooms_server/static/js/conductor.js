// Makes this phone's player follow the room: the right player for the track, loaded at the
// room's position, started, paused and jumped at the scheduled instants, corrected by the policy
// of sync.js, and silent when the room is not played here. Also the browser's side of it: the
// autoplay rules ("Tap to listen"), the lock screen (Media Session) and the screen wake lock.

import { formatTime, artworkOf, splitTitle } from "./format.js";
import { createPlayer } from "./players/player.js";
import { currentTrack, isHost, playbackKnown, shouldPlayHere } from "./reducer.js";
import { CORRECTION, Corrector, clockAt, roomTarget, upcomingChanges } from "./sync.js";

const ARM_AHEAD_MS = 4000; // instants closer than this get a timer of their own (ticks are 250 ms apart)

export class Conductor {
  /**
   * mount: the element the player lives in; connection: the RoomConnection (clock, commands);
   * onView(view): what the page should show about listening here.
   */
  constructor({ mount, connection, listenHere, onView, now }) {
    this.mount = mount;
    this.connection = connection;
    this.listenHere = listenHere;
    this.onView = onView;
    this.now = now;
    this.room = connection.room;
    this.player = null;
    this.loading = null; // the track id being loaded
    this.corrector = new Corrector();
    this.blocked = false;
    this.instantTimer = null;
    this.armedFor = null;
    this.handled = -Infinity; // the last scheduled instant acted on (its timer fires a little early)
    this.wakeLock = null;
    this.lastView = "";
    this.audio = makeAudioProbe();
    this.unlocked = !this.audio || this.audio.state === "running";
    if (this.audio) this.audio.onstatechange = () => this._onUnlock(this.audio.state === "running");
    this.ticker = setInterval(() => this._tick(), CORRECTION.tickMs);
    document.addEventListener("visibilitychange", () => this._tick());
    window.__roomsDebug = this._debug();
  }

  update(room) {
    const before = this.room;
    this.room = room;
    const trackChanged = (currentTrack(before) || {}).id !== (currentTrack(room) || {}).id;
    if (trackChanged || before.playback !== room.playback) this.corrector.reset(this.now());
    this._arm();
    this._tick();
    if (trackChanged || before.you !== room.you) this._mediaSession();
  }

  /** The clock estimate moved (a pong): the next instant's timer is re-armed on it. */
  clockChanged() {
    this._arm();
  }

  setListenHere(on) {
    this.listenHere = on;
    this._tick();
  }

  /** The "Tap to listen" handler: inside the tap, so the browser lets the player start. */
  userStart() {
    if (this.audio && this.audio.state !== "running") this.audio.resume().catch(() => {});
    this._onUnlock(true);
    this.blocked = false;
    const player = this.player;
    const track = currentTrack(this.room);
    if (!player || !track || !player.state().ready) return this._tick();
    const target = roomTarget(track, this.room.playback, this.connection.serverNow());
    player.seek(target.positionMs + (target.playing ? this.corrector.startLeadMs : 0));
    if (target.playing) {
      player.play();
      this.corrector.started(this.now());
    }
    this._tick();
  }

  _onUnlock(running) {
    if (running && !this.unlocked) {
      this.unlocked = true;
      this._tick();
    }
  }

  // -- the loop --------------------------------------------------------------------------------

  _tick() {
    const room = this.room;
    const track = currentTrack(room);
    const here = track !== null && shouldPlayHere(room, { listenHere: this.listenHere });
    if (!here) {
      this._teardown();
      return this._view(room, track, null);
    }
    const player = this._playerFor(track);
    if (!player) return this._view(room, track, null);
    const state = player.state();
    if (!playbackKnown(room)) return this._view(room, track, state); // its playback is the next event
    if (state.trackId !== track.id) {
      this._load(player, track);
      return this._view(room, track, state);
    }
    if (this.loading !== null || !state.ready || !this.connection.clock.ready) return this._view(room, track, state);
    const serverNow = this.connection.serverNow();
    const target = roomTarget(track, room.playback, serverNow);
    if (state.error) return this._view(room, track, state, target); // this track cannot play here
    if (state.blocked) this.blocked = true;
    if (!this.unlocked || this.blocked) {
      if (state.playing) player.pause(); // never play a part the room is not at
      return this._view(room, track, state, target);
    }
    // A scheduled instant this close belongs to its own timer (which acts a little early, by the
    // player's latency): a tick must not undo a start asked for just before the room starts.
    const [next] = upcomingChanges(room.playback, serverNow);
    const leads = Math.max(this.corrector.startLeadMs, this.corrector.seekLeadMs) + CORRECTION.tickMs;
    if (next === undefined || next - serverNow > leads) {
      this._act(player, this.corrector.decide(this.now(), target, state), state);
    }
    this._wake(target.playing && state.playing);
    this._view(room, track, player.state(), target);
  }

  _act(player, action, state) {
    if (action.kind === "none") return;
    if (action.kind === "play") {
      if (Math.abs(state.positionMs - action.seekTo) > CORRECTION.toleranceMs) player.seek(action.seekTo);
      player.play();
      this.corrector.started(this.now());
    } else if (action.kind === "pause") {
      if (state.playing) player.pause();
      if (Math.abs(state.positionMs - action.seekTo) > CORRECTION.pausedToleranceMs) player.seek(action.seekTo);
    } else if (action.kind === "seek") {
      player.seek(action.seekTo);
    }
  }

  _playerFor(track) {
    if (this.player && this.player.constructor.service === track.service) return this.player;
    this._teardown();
    const options = { onChange: () => {}, now: this.now };
    this.player = createPlayer(track.service, this.mount, options);
    return this.player;
  }

  _load(player, track) {
    if (this.loading === track.id) return;
    this.loading = track.id;
    this.corrector.reset(this.now());
    const target = roomTarget(track, this.room.playback, this.connection.serverNow());
    player
      .load(track, target.positionMs)
      .catch(() => {})
      .finally(() => {
        if (this.loading === track.id) this.loading = null;
        this._tick();
      });
  }

  _teardown() {
    if (this.player) this.player.destroy();
    this.player = null;
    this.loading = null;
    this._wake(false);
  }

  // -- the scheduled instants: starts, pauses and jumps land on the instant, not on a tick ------

  _arm() {
    clearTimeout(this.instantTimer);
    const serverNow = this.connection.serverNow();
    const instant = upcomingChanges(this.room.playback, serverNow).find((t) => t > this.handled);
    if (instant === undefined || instant - serverNow > ARM_AHEAD_MS) return;
    const before = clockAt(this.room.playback, instant - 1);
    const after = clockAt(this.room.playback, instant);
    // A start must be asked for a little early (the player's start latency), a jump too.
    const lead = after.is_playing ? (before.is_playing ? this.corrector.seekLeadMs : this.corrector.startLeadMs) : 0;
    const wait = this.connection.clock.localTime(instant) - lead - this.now();
    this.armedFor = instant;
    this.instantTimer = setTimeout(() => this._atInstant(instant, before, after), Math.max(wait, 0));
  }

  _atInstant(instant, before, after) {
    const player = this.player;
    const track = currentTrack(this.room);
    if (!player || !track || this.armedFor !== instant || !this.unlocked || this.blocked) return this._tick();
    const state = player.state();
    if (!state.ready || state.trackId !== track.id) return this._tick();
    if (after.is_playing && !before.is_playing) {
      if (Math.abs(state.positionMs - after.position_ms) > CORRECTION.toleranceMs) player.seek(after.position_ms);
      player.play();
      this.corrector.started(this.now());
    } else if (after.is_playing) {
      player.seek(after.position_ms); // asked seekLead early: it plays this position at the instant
    } else {
      player.pause();
      player.seek(after.position_ms);
    }
    this.handled = instant;
    this.corrector.reset(this.now());
    this.corrector.pending = { kind: after.is_playing && !before.is_playing ? "start" : "seek", at: this.now() };
    this._arm();
  }

  // -- what the page shows, the lock screen, the wake lock ---------------------------------------

  _view(room, track, state, target = null) {
    const here = state !== null;
    const view = {
      here,
      tap: here && track !== null && (!this.unlocked || this.blocked),
      loading: here && (this.loading !== null || !state.ready),
      service: track ? track.service : null,
      playing: Boolean(state && state.playing),
      error: state && state.error ? state.error : null,
      target,
    };
    const key = JSON.stringify([view.here, view.tap, view.loading, view.service, view.playing, view.error]);
    if (key !== this.lastView) {
      this.lastView = key;
      this.onView(view);
      this._mediaState(view);
    }
  }

  _mediaSession() {
    if (!("mediaSession" in navigator)) return;
    const track = currentTrack(this.room);
    const session = navigator.mediaSession;
    if (track && typeof MediaMetadata === "function") {
      const { title, artist } = splitTitle(track);
      session.metadata = new MediaMetadata({
        title,
        artist: artist || `added by ${track.added_by_name}`,
        album: this.room.group ? this.room.group.name : "",
        artwork: artworkOf(track),
      });
    }
    // Hosts control the room from the lock screen; for members the buttons would do nothing.
    const host = isHost(this.room);
    const send = (type) => () => {
      const current = currentTrack(this.room);
      if (type === "skip" && current) this.connection.send({ type, expected_track_id: current.id });
      else if (type !== "skip") this.connection.send({ type });
    };
    for (const [action, type] of [
      ["play", "play"],
      ["pause", "pause"],
      ["nexttrack", "skip"],
    ]) {
      try {
        session.setActionHandler(action, host ? send(type) : null);
      } catch {
        /* an action this browser does not know */
      }
    }
  }

  _mediaState(view) {
    if ("mediaSession" in navigator) navigator.mediaSession.playbackState = view.playing ? "playing" : "paused";
  }

  async _wake(on) {
    const want = on && document.visibilityState === "visible" && "wakeLock" in navigator;
    if (want && !this.wakeLock) {
      this.wakeLock = "pending";
      try {
        this.wakeLock = await navigator.wakeLock.request("screen");
        this.wakeLock.addEventListener("release", () => (this.wakeLock = null));
      } catch {
        this.wakeLock = null; // not allowed here (no HTTPS, battery saver): the screen may sleep
      }
    } else if (!want && this.wakeLock && this.wakeLock !== "pending") {
      const lock = this.wakeLock;
      this.wakeLock = null;
      lock.release().catch(() => {});
    }
  }

  /** Read-only views of the sync, for the browser tests and for anyone curious in the console. */
  _debug() {
    const self = this;
    return Object.freeze({
      serverNow: () => self.connection.serverNow(),
      offset: () => self.connection.clock.offset(self.now()),
      target: () => {
        const track = currentTrack(self.room);
        const t = roomTarget(track, self.room.playback, self.connection.serverNow());
        return { trackId: track ? track.id : null, positionMs: t.positionMs, playing: t.playing };
      },
      player: () => (self.player ? self.player.state() : null),
      room: () => ({ playback: self.room.playback, index: self.room.index, mode: self.room.group && self.room.group.listening_mode }),
      /** The player and the room at one instant, on this phone's own estimate of server time. */
      sample: () => {
        const track = currentTrack(self.room);
        const serverNow = self.connection.serverNow();
        const t = roomTarget(track, self.room.playback, serverNow);
        const p = self.player ? self.player.state() : null;
        return {
          serverNow,
          trackId: track ? track.id : null,
          targetMs: t.positionMs,
          targetPlaying: t.playing,
          player: p && { trackId: p.trackId, positionMs: p.positionMs, playing: p.playing, buffering: p.buffering },
        };
      },
      corrections: () => self.corrector.log.slice(),
      leads: () => ({ seek: self.corrector.seekLeadMs, start: self.corrector.startLeadMs }),
      describe: () => {
        const t = roomTarget(currentTrack(self.room), self.room.playback, self.connection.serverNow());
        return `${formatTime(t.positionMs)} ${t.playing ? "playing" : "paused"}`;
      },
    });
  }
}

/** An AudioContext tells whether this page may start sound without a tap (autoplay policy). */
function makeAudioProbe() {
  const AudioContextClass = window.AudioContext || window.webkitAudioContext;
  if (!AudioContextClass) return null;
  try {
    return new AudioContextClass();
  } catch {
    return null;
  }
}
