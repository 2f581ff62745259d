// The server's clock as this phone sees it. Pure: no DOM, no timers; the socket feeds it pongs.
//
// Local time is the monotonic `performance.timeOrigin + performance.now()`, never Date.now(): a
// phone whose wall clock is corrected (NTP, the user, a time zone trip) must not move the music.
//
// Each ping/pong bounds the offset (server − local) without any assumption on the network:
//     server_time − received_at  ≤  offset  ≤  server_time − sent_at (+1 ms: the server truncates)
// The estimator intersects the bounds of the round trips of the last minute, each widened by a
// drift allowance for its age (the two crystals run at different rates), and takes the middle
// of what is left. The interval narrows to the asymmetry of the fastest trips each way, however
// jittery the others are; the lowest-RTT sample alone stays about twice as wide (playback.md §5).
// When the bounds contradict each other the clocks stepped (a phone that slept with
// performance.now() paused, a server process restarted): the oldest samples are dropped until
// the rest agree, so a step is followed at the next pong.

export const CLOCK_DEFAULTS = Object.freeze({
  windowMs: 90_000, // how long a round trip counts
  driftPpm: 150, // allowed relative drift of the two clocks (phone crystals: ±100 ppm, the server NTP-disciplined)
  maxSamples: 64,
  quantumMs: 1, // the server's timestamps are whole milliseconds, truncated
});

export function monotonicNow() {
  return performance.timeOrigin + performance.now();
}

export class ClockEstimator {
  constructor(options = {}) {
    this.options = { ...CLOCK_DEFAULTS, ...options };
    this.samples = []; // {at, lower, upper, rtt}, oldest first
    this.steps = 0; // how many times the samples contradicted each other
  }

  get ready() {
    return this.samples.length > 0;
  }

  /** One round trip: sent and received on the local clock, the server's time in its pong. */
  addSample(sentAt, receivedAt, serverTime) {
    const rtt = receivedAt - sentAt;
    if (!(rtt >= 0) || !Number.isFinite(serverTime)) return false;
    const sample = {
      at: (sentAt + receivedAt) / 2,
      lower: serverTime - receivedAt,
      upper: serverTime + this.options.quantumMs - sentAt,
      rtt,
    };
    const { windowMs, maxSamples } = this.options;
    this.samples = this.samples.filter((s) => sample.at - s.at <= windowMs).slice(-(maxSamples - 1));
    this.samples.push(sample);
    this._dropContradicted(sample.at);
    return true;
  }

  /** The interval [lower, upper] the offset lies in at local time `at`, from the samples kept. */
  bounds(at) {
    const drift = this.options.driftPpm / 1e6;
    let lower = -Infinity;
    let upper = Infinity;
    for (const s of this.samples) {
      const slack = drift * Math.abs(at - s.at);
      lower = Math.max(lower, s.lower - slack);
      upper = Math.min(upper, s.upper + slack);
    }
    return { lower, upper };
  }

  /** server time − local time at local time `at` (0 before the first pong). */
  offset(at) {
    if (!this.samples.length) return 0;
    const { lower, upper } = this.bounds(at);
    return (lower + upper) / 2;
  }

  /** Half the width of the offset's interval: how far off the estimate can be, at most. */
  uncertainty(at) {
    if (!this.samples.length) return Infinity;
    const { lower, upper } = this.bounds(at);
    return (upper - lower) / 2;
  }

  serverTime(localTime) {
    return localTime + this.offset(localTime);
  }

  /** The local instant at which the server's clock reads `serverTime`. */
  localTime(serverTime) {
    const guess = serverTime - this.offset(serverTime);
    return serverTime - this.offset(guess); // once more, at the right instant (drift widening is tiny)
  }

  /** A high but not freak round-trip time of the last samples, reported to the server for its lead. */
  highRtt() {
    const rtts = this.samples.slice(-10).map((s) => s.rtt).sort((a, b) => a - b);
    if (!rtts.length) return null;
    return Math.round(rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * 0.9))]);
  }

  _dropContradicted(now) {
    // Newest first: the newest sample is the truth about the present, older ones yield to it.
    const drift = this.options.driftPpm / 1e6;
    let lower = -Infinity;
    let upper = Infinity;
    for (let i = this.samples.length - 1; i >= 0; i -= 1) {
      const s = this.samples[i];
      const slack = drift * Math.abs(now - s.at);
      const nextLower = Math.max(lower, s.lower - slack);
      const nextUpper = Math.min(upper, s.upper + slack);
      if (nextLower > nextUpper) {
        this.samples = this.samples.slice(i + 1);
        this.steps += 1;
        return;
      }
      lower = nextLower;
      upper = nextUpper;
    }
  }
}

/** When to ping: a burst at connect, resume and visibility, then every few seconds. */
// Tuned with bench/sync.mjs: p99 start spread ≤ 17 ms at 50–300 ms RTT with ±20–50 ms jitter.
export const PING_SCHEDULE = Object.freeze({
  burst: 12, // pings in a burst, each after the previous one's pong and at least burstGapMs apart
  burstGapMs: 150,
  everyMs: 2_500, // then, while the page is visible
  hiddenEveryMs: 15_000, // while hidden (the socket still needs a heartbeat)
});
