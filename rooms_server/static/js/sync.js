// Where the player should be, and what to do when it is not. Pure: the conductor feeds it times.
//
// The room's playback is a scheduled clock (docs/asyncapi.yaml, "Playback is a scheduled clock"):
// from `server_time_ms` on, `position_ms` advancing while `is_playing`; before it, `prior`.
//
// The correction policy, decided once per tick (CORRECTION.tickMs) with the player's reported
// position and the room's position at the same instant:
// - Never a playback-rate nudge: on music it is audible (Jellyfin turned SpeedToSync off), only seeks.
// - A seek only when the error stays beyond the tolerance band (60 ms) for `confirmTicks` ticks in
//   a row: a position read between two player updates is noisy, a real drift is not.
// - Hysteresis: after a corrective seek, `holdOffMs` without another, and the seek aims at the
//   room's position plus the seek latency this player has shown (learnt from the error that is
//   left once it plays again), so one seek lands inside the band instead of chasing it. A seek
//   (or a start) that still landed outside the band is retried once, at once, with the lead it
//   just taught; never more (no chase).
// - A cap: at most `capPerWindow` small corrections per minute in steady play; beyond that the
//   band widens to `cappedToleranceMs` until the minute has passed, so a player that cannot hold
//   the band is not seeked every second. Big errors (a late join, a buffering stall, a wake-up:
//   beyond `bigErrorMs`) are always corrected at once, and neither they nor the corrections in
//   the few seconds after a start, a jump or a big error (the player settling) count against it.
// - While the player buffers it is left alone (a seek would restart the buffering), and a
//   paused room is aligned exactly (a seek while paused is silent).

export const CORRECTION = Object.freeze({
  tickMs: 250,
  toleranceMs: 60,
  confirmTicks: 3,
  holdOffMs: 1500,
  capPerWindow: 2,
  capWindowMs: 60_000,
  cappedToleranceMs: 300,
  bigErrorMs: 1000,
  pausedToleranceMs: 40,
  settleMs: 400, // after a seek or a start, how long before its residual error is learnt
  maxLeadMs: 1500,
  initialLeadMs: 100, // a first guess of a player's seek and start latency, learnt from there
  steadyAfterMs: 5000, // corrections this long after a start, a jump or a big error count against the cap
  learnRate: 0.8, // how much of a residual error the next seek or start corrects for
});

/** The clock in effect at server time `t`: {is_playing, position_ms, server_time_ms}. */
export function clockAt(playback, t) {
  let p = playback;
  while (p) {
    if (t >= p.server_time_ms) return p;
    if (!p.prior) return { is_playing: false, position_ms: p.position_ms, server_time_ms: p.server_time_ms };
    p = p.prior;
  }
  return { is_playing: false, position_ms: 0, server_time_ms: t };
}

export function positionAt(playback, t, durationMs) {
  const c = clockAt(playback, t);
  const position = c.position_ms + (c.is_playing ? t - c.server_time_ms : 0);
  return Math.min(Math.max(position, 0), durationMs);
}

/** Server instants after `t` at which the room's clock changes, soonest first. */
export function upcomingChanges(playback, t) {
  const instants = [];
  for (let p = playback; p; p = p.prior) if (p.server_time_ms > t) instants.push(p.server_time_ms);
  return instants.sort((a, b) => a - b);
}

/** What the room plays at server time `t`: the track, the position and whether it moves. */
export function roomTarget(track, playback, t) {
  if (!track) return { track: null, positionMs: 0, playing: false };
  const durationMs = track.duration_s * 1000;
  const positionMs = positionAt(playback, t, durationMs);
  return { track, positionMs, playing: clockAt(playback, t).is_playing && positionMs < durationMs };
}

/**
 * Decides, tick after tick, how one player follows the room.
 * decide() returns {kind: "none"} | {kind: "play", seekTo?} | {kind: "pause", seekTo?} | {kind: "seek", seekTo, big}
 * and the caller reports back what it did with applied().
 */
export class Corrector {
  constructor(policy = {}) {
    this.policy = { ...CORRECTION, ...policy };
    this.reset();
    this.seekLeadMs = this.policy.initialLeadMs; // how far ahead a seek must aim to land on the room's position
    this.startLeadMs = this.policy.initialLeadMs; // how early play() must be called to sound at the instant
    this.corrections = []; // local times of the small corrections of the cap window
    this.log = []; // every corrective seek: {at, errorMs, big} (read by tests and the status line)
  }

  /** Forget the pending observation (a new track, a new room position). */
  reset(now = -Infinity) {
    this.outside = 0;
    this.lastSeekAt = -Infinity;
    this.pending = null; // {kind: "seek" | "start", at}: waiting to learn its residual error
    this.settlingSince = now; // the last start, jump or big error: play is steady some time after it
  }

  tolerance(now) {
    const { capWindowMs, capPerWindow, toleranceMs, cappedToleranceMs } = this.policy;
    this.corrections = this.corrections.filter((at) => now - at < capWindowMs);
    return this.corrections.length >= capPerWindow ? cappedToleranceMs : toleranceMs;
  }

  /**
   * now: local ms; target: roomTarget(); player: {ready, playing, buffering, positionMs}
   * (positionMs already extrapolated to `now`).
   */
  decide(now, target, player) {
    const p = this.policy;
    if (!player.ready || !target.track) return { kind: "none" };
    const error = player.positionMs - target.positionMs;
    if (!target.playing) {
      this.outside = 0;
      this.pending = null;
      if (player.playing) return { kind: "pause", seekTo: target.positionMs };
      if (!player.buffering && Math.abs(error) > p.pausedToleranceMs) return { kind: "pause", seekTo: target.positionMs };
      return { kind: "none" };
    }
    if (player.buffering) {
      this.outside = 0;
      return { kind: "none" };
    }
    if (!player.playing) return { kind: "play", seekTo: target.positionMs + this.startLeadMs };
    const missed = this._learn(now, error);
    if (Math.abs(error) > p.bigErrorMs) return this._seek(now, target, error, true);
    // A seek or start that landed outside the band is retried at once, with the lead just learnt.
    if (missed && Math.abs(error) > this.tolerance(now)) return this._seek(now, target, error, false, true);
    if (Math.abs(error) <= this.tolerance(now)) {
      this.outside = 0;
      return { kind: "none" };
    }
    this.outside += 1;
    if (this.outside < p.confirmTicks || now - this.lastSeekAt < p.holdOffMs) return { kind: "none" };
    return this._seek(now, target, error, false);
  }

  _seek(now, target, errorMs, big, retry = false) {
    this.outside = 0;
    this.lastSeekAt = now;
    // A retry is not learnt from again: one retry per miss, never a chase.
    this.pending = retry ? null : { kind: "seek", at: now };
    if (big) this.settlingSince = now;
    else if (now - this.settlingSince > this.policy.steadyAfterMs) this.corrections.push(now);
    this.log.push({ at: now, errorMs: Math.round(errorMs), big, retry });
    return { kind: "seek", seekTo: target.positionMs + this.seekLeadMs, big };
  }

  /** The caller started the player (at a scheduled instant or after a tap): learn its start latency. */
  started(now) {
    this.pending = { kind: "start", at: now };
    this.outside = 0;
    this.settlingSince = now;
  }

  /** Learn a latency from the error left after a seek or a start; true when it missed the band. */
  _learn(now, error) {
    const pending = this.pending;
    if (!pending || now - pending.at < this.policy.settleMs) return false;
    this.pending = null;
    if (Math.abs(error) > this.policy.bigErrorMs) return false; // something else happened (a stall): nothing to learn
    const key = pending.kind === "seek" ? "seekLeadMs" : "startLeadMs";
    // Behind by e ms after aiming at the target: aim (most of) e ms further next time.
    this[key] = Math.min(Math.max(this[key] - this.policy.learnRate * error, 0), this.policy.maxLeadMs);
    return true;
  }
}
