// A stand-in for https://open.spotify.com/embed/iframe-api/v1 in the browser tests and
// screenshots (no network). It implements the documented iFrame API surface the page uses —
// window.onSpotifyIframeApiReady(IFrameAPI), IFrameAPI.createController(element, {uri, width,
// height}, callback), and the controller's loadUri, play, pause, resume, togglePlay, seek(seconds),
// destroy and addListener("ready" | "playback_update" | "error") with playback_update's
// {isPaused, isBuffering, duration, position} in milliseconds — and plays in real time. Starting
// needs a user gesture in the top page (autoplay is delegated to the embed). Tests steer it through
// window.__fakeSpotify inside the /embed/spotify frame.
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const config = Object.assign({ startDelayMs: 150, seekDelayMs: 150, refuseWithoutGesture: true }, window.__fakePlayerConfig || {});
  const control = { config, controllers: [], calls: [] };
  // Autoplay is delegated to the embed: what the top page may do, the embed may (see the YouTube fake).
  let allowedAtLoad = false;
  try {
    const probe = window.top.AudioContext ? new window.top.AudioContext() : null;
    allowedAtLoad = probe !== null && probe.state === "running";
    if (probe) probe.close();
  } catch {
    allowedAtLoad = false;
  }
  const topActivated = () => {
    try {
      return allowedAtLoad || window.top.navigator.userActivation.hasBeenActive;
    } catch {
      return false;
    }
  };

  class Controller {
    constructor(element, options) {
      this.uri = options.uri;
      this.listeners = {};
      this.paused = true;
      this.buffering = false;
      this.positionMs = 0;
      this.anchor = now();
      this.timer = null;
      this.box = document.createElement("div");
      this.box.className = "fake-player fake-spotify";
      this.box.style.cssText =
        "height:152px;box-sizing:border-box;border-radius:12px;padding:16px;font:600 14px system-ui,sans-serif;" +
        "color:#fff;background:linear-gradient(135deg,#1db954,#115c2c);display:flex;flex-direction:column;justify-content:space-between";
      const label = document.createElement("span");
      label.textContent = "● Spotify · stand-in player";
      this.uriLabel = document.createElement("span");
      this.timeLabel = document.createElement("span");
      this.box.append(label, this.uriLabel, this.timeLabel);
      element.replaceWith(this.box);
      control.controllers.push(this);
      this.ticker = setInterval(() => this._update(), 250);
      setTimeout(() => this._emit("ready", {}), 30);
    }

    _log(name, args) {
      control.calls.push({ name, args: Array.from(args), at: now(), uri: this.uri });
    }

    _emit(name, data) {
      for (const cb of this.listeners[name] || []) cb({ data });
    }

    _position() {
      return this.paused || this.buffering ? this.positionMs : this.positionMs + (now() - this.anchor);
    }

    _update() {
      const s = Math.floor(this._position() / 1000);
      this.uriLabel.textContent = this.uri;
      this.timeLabel.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
      this._emit("playback_update", { isPaused: this.paused, isBuffering: this.buffering, duration: 0, position: this._position() });
    }

    _buffer(ms) {
      clearTimeout(this.timer);
      this.positionMs = this._position();
      this.buffering = true;
      this.paused = false;
      this._update();
      this.timer = setTimeout(() => {
        this.buffering = false;
        this.anchor = now();
        this._update();
      }, ms);
    }

    addListener(name, cb) {
      (this.listeners[name] = this.listeners[name] || []).push(cb);
    }

    loadUri(uri) {
      this._log("loadUri", arguments);
      clearTimeout(this.timer);
      this.uri = uri;
      this.paused = true;
      this.buffering = false;
      this.positionMs = 0;
      this._update();
    }

    play() {
      this._log("play", arguments);
      if (config.refuseWithoutGesture && !topActivated()) return this._update();
      this.positionMs = 0;
      this._buffer(config.startDelayMs);
    }

    resume() {
      this._log("resume", arguments);
      if (!this.paused) return;
      if (config.refuseWithoutGesture && !topActivated()) return this._update();
      this._buffer(config.startDelayMs);
    }

    togglePlay() {
      if (this.paused) this.resume();
      else this.pause();
    }

    pause() {
      this._log("pause", arguments);
      clearTimeout(this.timer);
      this.positionMs = this._position();
      this.paused = true;
      this.buffering = false;
      this._update();
    }

    seek(seconds) {
      this._log("seek", arguments);
      const wasPaused = this.paused && !this.buffering;
      clearTimeout(this.timer);
      this.positionMs = Math.max(0, seconds * 1000);
      this.anchor = now();
      if (wasPaused) return this._update();
      this._buffer(config.seekDelayMs);
    }

    destroy() {
      clearInterval(this.ticker);
      this.box.remove();
    }
  }

  control.current = () => {
    const c = control.controllers[control.controllers.length - 1];
    return c ? { uri: c.uri, positionMs: c._position(), paused: c.paused, buffering: c.buffering } : null;
  };
  control.stall = (ms) => {
    const c = control.controllers[control.controllers.length - 1];
    if (c && !c.paused) c._buffer(ms);
  };
  window.__fakeSpotify = control;
  const IFrameAPI = {
    createController(element, options, callback) {
      const controller = new Controller(element, options || {});
      setTimeout(() => callback(controller), 10);
    },
  };
  setTimeout(() => {
    if (typeof window.onSpotifyIframeApiReady === "function") window.onSpotifyIframeApiReady(IFrameAPI);
  }, 20);
})();
