// The one small interface every music service's player implements, and the registry of them.
// A third service is one new file in this folder plus one line in PLAYERS (and its origins in
// the server's Content-Security-Policy).
//
// class SomePlayer {
//   static service = "…";                      // the track's `service`
//   constructor(mount, { onChange })           // mount: an empty element the player may fill;
//                                               // onChange(): its state changed (call soon)
//   load(track, positionMs): Promise<void>      // show this track, paused at positionMs
//   play(): void                                // start or resume now (call it inside a tap
//                                               // handler to use the tap's permission to play)
//   pause(): void
//   seek(positionMs): void
//   mute(on): void                              // silent while following on the member's own Spotify
//   state(): { ready, playing, buffering, positionMs, trackId, blocked }
//                                               // positionMs extrapolated to now; blocked: the
//                                               // browser refused to start it (autoplay policy)
//   destroy(): void
// }

import { SpotifyPlayer } from "./spotify.js";
import { YouTubePlayer } from "./youtube.js";

export const PLAYERS = Object.freeze({
  [YouTubePlayer.service]: YouTubePlayer,
  [SpotifyPlayer.service]: SpotifyPlayer,
});

/** A player for `service` in `mount`, or null for a service this page cannot play. */
export function createPlayer(service, mount, options) {
  const Player = PLAYERS[service];
  return Player ? new Player(mount, options) : null;
}

/** Positions players report between their updates move on with the clock while playing. */
export class PositionClock {
  constructor(now) {
    this.now = now;
    this.positionMs = 0;
    this.at = now();
    this.moving = false;
  }

  /** A fresh reading of the player (its own reported position, now). */
  set(positionMs, moving) {
    this.positionMs = positionMs;
    this.at = this.now();
    this.moving = moving;
  }

  read() {
    return this.positionMs + (this.moving ? this.now() - this.at : 0);
  }
}

/** Loads a third-party script once; resolves when `ready` (a global callback) fires. */
export function loadScript(src, register) {
  return new Promise((resolve, reject) => {
    register(resolve);
    const script = document.createElement("script");
    script.src = src;
    script.async = true;
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(script);
  });
}
