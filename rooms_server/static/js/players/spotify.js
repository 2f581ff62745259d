// Spotify tracks in Spotify's iFrame API embed. https://developer.spotify.com/documentation/embeds
//
// The embed's API script needs `'unsafe-eval'` (its bundle evaluates strings at start-up), which
// the room page never allows. So the controller lives in a frame of our own, /embed/spotify,
// whose Content-Security-Policy allows exactly open.spotify.com (the loader script and the player
// frame), embed-cdn.spotifycdn.com (the bundle it loads) and that eval; this adapter talks to it
// with postMessage. The frame holds no token and reads nothing of the room.
//
// Listeners who are not logged in to Spotify in this browser hear 30-second previews; the page
// says so and offers "play on my Spotify" (the member's own Spotify app follows the room).

import { mediaId } from "../format.js";
import { PositionClock } from "./player.js";

const FRAME_URL = "/embed/spotify";
const REFUSED_AFTER_MS = 2500;

export class SpotifyPlayer {
  static service = "spotify";

  constructor(mount, { onChange, now }) {
    this.mount = mount;
    this.onChange = onChange;
    this.now = now;
    this.trackId = null;
    this.ready = false; // the frame's controller exists and has the track
    this.playing = false;
    this.buffering = false;
    this.clock = new PositionClock(now);
    this.wantPlaying = false;
    this.playRequestedAt = 0;
    this.loaded = null; // resolves the current load()
    this.error = null;
    this.frame = document.createElement("iframe");
    this.frame.className = "spotify-frame";
    this.frame.title = "Spotify player";
    this.frame.allow = "autoplay; encrypted-media";
    this.frame.src = FRAME_URL;
    this.frameReady = new Promise((resolve) => (this.resolveFrame = resolve));
    this.onMessage = (event) => this._onMessage(event);
    window.addEventListener("message", this.onMessage);
    mount.replaceChildren(this.frame);
  }

  async load(track, positionMs) {
    this.trackId = track.id;
    this.ready = false;
    this.wantPlaying = false;
    this.clock.set(positionMs, false);
    await this.frameReady;
    const done = new Promise((resolve) => (this.loaded = resolve));
    this._post({ cmd: "load", uri: `spotify:track:${mediaId(track)}`, positionMs });
    await done;
  }

  play() {
    this.wantPlaying = true;
    this.playRequestedAt = this.now();
    this._post({ cmd: "play" });
  }

  pause() {
    this.wantPlaying = false;
    this._post({ cmd: "pause" });
  }

  seek(positionMs) {
    this.clock.set(positionMs, false);
    this._post({ cmd: "seek", positionMs: Math.max(positionMs, 0) });
  }

  mute() {
    // The embed has no volume control: a muted phone pauses it instead (the conductor does).
  }

  state() {
    const refused =
      this.wantPlaying && !this.playing && !this.buffering && this.now() - this.playRequestedAt > REFUSED_AFTER_MS;
    return {
      ready: this.ready,
      playing: this.playing,
      buffering: this.buffering,
      positionMs: this.clock.read(),
      trackId: this.trackId,
      blocked: refused,
      error: this.error,
    };
  }

  _post(message) {
    if (this.frame.contentWindow) this.frame.contentWindow.postMessage(message, location.origin);
  }

  _onMessage(event) {
    if (event.origin !== location.origin || event.source !== this.frame.contentWindow) return;
    const data = event.data || {};
    if (data.event === "frame") {
      this.resolveFrame();
    } else if (data.event === "loaded") {
      this.ready = true;
      if (this.loaded) this.loaded();
    } else if (data.event === "update") {
      this.playing = !data.isPaused && !data.isBuffering;
      this.buffering = Boolean(data.isBuffering);
      if (this.playing) this.wantPlaying = true;
      this.clock.set(Number(data.position) || 0, this.playing);
    } else if (data.event === "error") {
      this.error = String(data.message || "error");
    }
    this.onChange();
  }

  destroy() {
    window.removeEventListener("message", this.onMessage);
    this.mount.replaceChildren();
  }
}
