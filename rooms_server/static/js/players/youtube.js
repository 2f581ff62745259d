// YouTube tracks in the official IFrame Player API, on the privacy-enhanced host (no cookies
// until the viewer plays). https://developers.google.com/youtube/iframe_api_reference
//
// The API script comes from www.youtube.com (and loads its widget script from there too); the
// player frames come from www.youtube-nocookie.com: exactly the two origins the room page's CSP
// allows for YouTube.

import { mediaId } from "../format.js";
import { PositionClock, loadScript } from "./player.js";

const API_URL = "https://www.youtube.com/iframe_api";
const HOST = "https://www.youtube-nocookie.com";
const STATE = { UNSTARTED: -1, ENDED: 0, PLAYING: 1, PAUSED: 2, BUFFERING: 3, CUED: 5 };
const REFUSED_AFTER_MS = 2000; // asked to play, neither playing nor buffering after this: refused

let api = null;

function youtubeApi() {
  if (!api) {
    api = loadScript(API_URL, (resolve) => {
      const previous = window.onYouTubeIframeAPIReady;
      window.onYouTubeIframeAPIReady = () => {
        if (typeof previous === "function") previous();
        resolve(window.YT);
      };
    });
  }
  return api;
}

export class YouTubePlayer {
  static service = "youtube";

  constructor(mount, { onChange, now }) {
    this.mount = mount;
    this.onChange = onChange;
    this.now = now;
    this.player = null;
    this.ready = false;
    this.trackId = null;
    this.videoId = null;
    this.ytState = STATE.UNSTARTED;
    this.clock = new PositionClock(now);
    this.lastReported = null;
    this.wantPlaying = false;
    this.playRequestedAt = 0;
    this.error = null;
    this.destroyed = false;
  }

  async load(track, positionMs) {
    const videoId = mediaId(track);
    this.trackId = track.id;
    this.wantPlaying = false;
    this.clock.set(positionMs, false);
    this.lastReported = null;
    if (this.player && this.ready) {
      this.videoId = videoId;
      this.player.cueVideoById({ videoId, startSeconds: positionMs / 1000 });
      return;
    }
    this.videoId = videoId;
    const YT = await youtubeApi();
    if (this.player || this.destroyed) return; // another load is creating it, or it is gone
    const element = document.createElement("div");
    this.mount.replaceChildren(element);
    await new Promise((resolve) => {
      const player = new YT.Player(element, {
        host: HOST,
        width: "100%",
        height: "100%",
        playerVars: { playsinline: 1, rel: 0, fs: 0, origin: location.origin },
        events: {
          onReady: () => {
            resolve();
            if (this.destroyed) return;
            this.ready = true;
            player.cueVideoById({ videoId: this.videoId, startSeconds: this.clock.read() / 1000 });
            this.onChange();
          },
          onStateChange: (event) => {
            if (!this.destroyed) this._onState(event.data);
          },
          onError: (event) => {
            this.error = event.data;
            this.onChange();
          },
        },
      });
      this.player = player;
    });
  }

  play() {
    if (!this.ready) return;
    this.wantPlaying = true;
    this.playRequestedAt = this.now();
    this.player.playVideo();
  }

  pause() {
    this.wantPlaying = false;
    if (this.ready) this.player.pauseVideo();
  }

  seek(positionMs) {
    if (!this.ready) return;
    const seconds = Math.max(positionMs, 0) / 1000;
    this.clock.set(positionMs, false);
    this.lastReported = null;
    // seekTo() plays a cued (or unstarted) video; to move one that has not started, cue it again.
    if (this.ytState === STATE.CUED || this.ytState === STATE.UNSTARTED) {
      this.player.cueVideoById({ videoId: this.videoId, startSeconds: seconds });
    } else {
      this.player.seekTo(seconds, true);
    }
  }

  mute(on) {
    if (!this.ready) return;
    if (on) this.player.mute();
    else this.player.unMute();
  }

  state() {
    const playing = this.ytState === STATE.PLAYING;
    const buffering = this.ytState === STATE.BUFFERING;
    if (this.ready && typeof this.player.getCurrentTime === "function") {
      // getCurrentTime() changes in steps (the frame posts its time a few times a second):
      // a new value is a fresh reading, the same value is extrapolated from when it was read.
      const reported = this.player.getCurrentTime() * 1000;
      if (reported !== this.lastReported || !playing) {
        this.lastReported = reported;
        this.clock.set(reported, playing);
      }
    }
    const refused = this.wantPlaying && !playing && !buffering && this.now() - this.playRequestedAt > REFUSED_AFTER_MS;
    return {
      ready: this.ready && this.videoId !== null,
      playing,
      buffering,
      positionMs: this.clock.read(),
      trackId: this.trackId,
      blocked: refused,
      error: this.error,
    };
  }

  _onState(state) {
    this.ytState = state;
    if (state === STATE.PLAYING) this.wantPlaying = true;
    this.clock.set(this.ready ? this.player.getCurrentTime() * 1000 : this.clock.read(), state === STATE.PLAYING);
    this.onChange();
  }

  destroy() {
    this.destroyed = true;
    this.ready = false;
    if (this.player && typeof this.player.destroy === "function") this.player.destroy();
    this.player = null;
    this.mount.replaceChildren();
  }
}
