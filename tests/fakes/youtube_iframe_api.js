// A stand-in for https://www.youtube.com/iframe_api in the browser tests and screenshots (the
// machine has no network, and tests must not reach it). It implements the documented surface of
// the IFrame Player API the page uses — new YT.Player(el, {videoId, host, playerVars, events}),
// cueVideoById, loadVideoById, playVideo, pauseVideo, seekTo, getCurrentTime, getDuration,
// getPlayerState, mute, unMute, isMuted, setVolume, destroy; onReady, onStateChange, onError —
// and plays in real time on the page's monotonic clock. Like a browser with an autoplay policy,
// it refuses to start before the page had a user gesture. Tests steer it through
// window.__fakeYT: a start and a seek latency (config), buffering stalls (stall(ms)), and a
// record of every call.
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const config = Object.assign({ startDelayMs: 120, seekDelayMs: 180, refuseWithoutGesture: true }, window.__fakePlayerConfig || {});
  const State = { UNSTARTED: -1, ENDED: 0, PLAYING: 1, PAUSED: 2, BUFFERING: 3, CUED: 5 };
  // The browser's own verdict at load (an AudioContext starts running only where autoplay is
  // allowed, e.g. after a tap on a page of the same site), or a user gesture on this page since.
  const probe = window.AudioContext ? new AudioContext() : null;
  const allowedAtLoad = probe !== null && probe.state === "running";
  if (probe) probe.close();
  const mayPlay = () => allowedAtLoad || navigator.userActivation.hasBeenActive;
  const control = { config, players: [], calls: [], refused: 0 };

  class Player {
    constructor(element, options) {
      const el = typeof element === "string" ? document.getElementById(element) : element;
      this.options = options || {};
      this.events = this.options.events || {};
      this.videoId = this.options.videoId || null;
      this.state = State.UNSTARTED;
      this.positionMs = 0;
      this.anchor = 0; // while playing: local time at which positionMs held
      this.muted = false;
      this.timer = null;
      // Drawn with CSSOM only: the room page's CSP allows no inline style sheet.
      const part = (tag, css, text = "") => {
        const node = document.createElement(tag);
        node.style.cssText = css;
        node.textContent = text;
        return node;
      };
      this.box = part(
        "div",
        "position:relative;width:100%;height:100%;overflow:hidden;font:600 13px system-ui,sans-serif;color:#fff;" +
          "background:radial-gradient(120% 90% at 30% 20%,#d7463b 0%,#5c1a3d 45%,#0b0c12 100%)",
      );
      this.box.className = "fake-player fake-youtube";
      this.big = part(
        "div",
        "position:absolute;left:50%;top:45%;transform:translate(-50%,-50%);width:68px;height:48px;border-radius:14px;" +
          "background:rgba(255,0,0,.92);display:flex;align-items:center;justify-content:center;font-size:22px",
        "▶",
      );
      this.timeLabel = part("span", "", "0:00");
      const bar = part(
        "div",
        "position:absolute;left:0;right:0;bottom:0;padding:10px 12px 12px;display:flex;justify-content:space-between;" +
          "background:linear-gradient(transparent,rgba(0,0,0,.75))",
      );
      bar.append(part("span", "", "YouTube"), this.timeLabel, part("span", "opacity:.7", "stand-in player"));
      this.fill = part("div", "position:absolute;left:0;bottom:0;height:3px;width:0;background:#f00");
      this.box.append(this.big, bar, this.fill);
      el.replaceWith(this.box);
      control.players.push(this);
      this.paint = setInterval(() => this._paint(), 250);
      setTimeout(() => this._emit("onReady", { target: this }), 30);
    }

    _log(name, args) {
      control.calls.push({ name, args: Array.from(args), at: now(), videoId: this.videoId });
    }

    _emit(name, event) {
      if (typeof this.events[name] === "function") this.events[name](event);
    }

    _setState(state) {
      this.state = state;
      this._emit("onStateChange", { target: this, data: state });
    }

    _position() {
      return this.state === State.PLAYING ? this.positionMs + (now() - this.anchor) : this.positionMs;
    }

    _freeze() {
      this.positionMs = this._position();
      this.anchor = now();
    }

    /** Buffer for `ms`, then play from where it stood: like a stalled network. */
    _buffer(ms) {
      clearTimeout(this.timer);
      this._freeze();
      this._setState(State.BUFFERING);
      this.timer = setTimeout(() => {
        this.anchor = now();
        this._setState(State.PLAYING);
      }, ms);
    }

    cueVideoById(arg) {
      this._log("cueVideoById", arguments);
      clearTimeout(this.timer);
      this.videoId = typeof arg === "string" ? arg : arg.videoId;
      this.positionMs = ((typeof arg === "string" ? arguments[1] : arg.startSeconds) || 0) * 1000;
      this._setState(State.CUED);
    }

    loadVideoById(arg) {
      this._log("loadVideoById", arguments);
      this.cueVideoById(arg);
      this.playVideo();
    }

    playVideo() {
      this._log("playVideo", arguments);
      if (this.state === State.PLAYING || this.state === State.BUFFERING) return;
      if (config.refuseWithoutGesture && !mayPlay()) {
        control.refused += 1;
        this._setState(State.UNSTARTED); // what a refused start looks like: nothing plays
        return;
      }
      this._buffer(config.startDelayMs);
    }

    pauseVideo() {
      this._log("pauseVideo", arguments);
      clearTimeout(this.timer);
      this._freeze();
      this._setState(State.PAUSED);
    }

    seekTo(seconds) {
      this._log("seekTo", arguments);
      const wasStopped = this.state === State.PAUSED;
      clearTimeout(this.timer);
      this.positionMs = Math.max(0, seconds * 1000);
      this.anchor = now();
      if (wasStopped) return; // a paused player stays paused (as the reference says)
      if (this.state === State.UNSTARTED && config.refuseWithoutGesture && !mayPlay()) return;
      this._buffer(config.seekDelayMs); // from any other state the player plays after the seek
    }

    getCurrentTime() {
      return this._position() / 1000;
    }

    getDuration() {
      return 0;
    }

    getPlayerState() {
      return this.state;
    }

    mute() {
      this.muted = true;
    }

    unMute() {
      this.muted = false;
    }

    isMuted() {
      return this.muted;
    }

    setVolume() {}

    destroy() {
      this._log("destroy", arguments);
      clearTimeout(this.timer);
      clearInterval(this.paint);
      control.players = control.players.filter((p) => p !== this);
      this.box.remove();
    }

    _paint() {
      const s = Math.floor(this._position() / 1000);
      this.timeLabel.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
      this.big.style.opacity = this.state === State.PLAYING ? "0" : "1";
      this.fill.style.width = `${Math.min(100, (s % 240) / 2.4)}%`;
    }
  }

  control.current = () => {
    const p = control.players[control.players.length - 1];
    return p ? { videoId: p.videoId, positionMs: p._position(), state: p.state } : null;
  };
  control.stall = (ms) => {
    const p = control.players[control.players.length - 1];
    if (p && p.state === State.PLAYING) p._buffer(ms);
  };
  control.seeks = () => control.calls.filter((c) => c.name === "seekTo");

  window.__fakeYT = control;
  window.YT = { Player, PlayerState: State, loaded: 1 };
  setTimeout(() => {
    if (typeof window.onYouTubeIframeAPIReady === "function") window.onYouTubeIframeAPIReady();
  }, 20);
})();
