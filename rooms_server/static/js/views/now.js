// The "Now playing" card: the player (or why there is none), the title, the progress bar from the
// room's clock, the host's controls and the members' vote to skip.

import { $, show } from "../dom.js";
import { artworkUrl, formatTime, serviceName } from "../format.js";
import { currentTrack, followsOnSpotify, isHost, isSpeaker, queueOver } from "../reducer.js";
import { positionAt, clockAt } from "../sync.js";

const SEEK_STEP_MS = 5000;

/** The artwork <img> of a track (hidden when it has none or the image fails). */
export function setArtwork(img, track) {
  const src = artworkUrl(track);
  if (!src) {
    show(img, false);
    img.removeAttribute("src");
    return;
  }
  if (img.getAttribute("src") !== src) {
    img.onerror = () => show(img, false);
    img.src = src;
  }
  show(img, true);
}

export function renderNow(room) {
  const track = currentTrack(room);
  const over = queueOver(room);
  $("now-title").textContent = over ? "That was the last song" : track ? track.title : "Nothing yet";
  $("now-meta").textContent = over
    ? "The queue has ended. Add a song to keep going."
    : track
      ? `Added by ${track.added_by_name} · ${serviceName(track.service)}`
      : "Add a song below to get started.";
  setArtwork($("now-art"), over ? null : track);
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
}

/** The progress bar: a slider a host can move (tap, drag or arrow keys), a progress bar for the others. */
export function renderSeekRole(room) {
  const bar = $("progress");
  const host = isHost(room) && currentTrack(room) !== null;
  if (host) {
    bar.setAttribute("role", "slider");
    bar.setAttribute("tabindex", "0");
    bar.setAttribute("aria-label", "Playback position (arrow keys seek 5 s)");
  } else {
    bar.setAttribute("role", "progressbar");
    bar.removeAttribute("tabindex");
    bar.setAttribute("aria-label", "Playback position");
  }
}

export function renderProgress(room, serverNow) {
  const track = currentTrack(room);
  const duration = track ? track.duration_s * 1000 : 0;
  const position = track ? positionAt(room.playback, serverNow, duration) : 0;
  const fraction = duration ? position / duration : 0;
  $("progress-fill").style.width = `${(fraction * 100).toFixed(2)}%`;
  const bar = $("progress");
  bar.setAttribute("aria-valuemax", String(Math.round(duration / 1000)));
  bar.setAttribute("aria-valuenow", String(Math.round(position / 1000)));
  bar.setAttribute("aria-valuetext", `${formatTime(position)} of ${formatTime(duration)}`);
  $("time-now").textContent = formatTime(position);
  $("time-total").textContent = formatTime(duration);
  let state = "";
  if (track) {
    const moving = clockAt(room.playback, serverNow).is_playing;
    if (room.playback.is_playing) state = moving ? "Playing" : "Starting…";
    else state = moving ? "Pausing…" : "Paused";
  }
  $("play-state").textContent = state;
}

/** The player area and the line under the times: what this phone does with the sound. */
export function renderListening(room, view, { listenHere }) {
  const track = currentTrack(room);
  show($("player-area"), view.here);
  $("player-area").dataset.service = view.service || "";
  $("player-area").dataset.playing = String(Boolean(view.playing));
  $("player-area").dataset.sound = view.tap ? "needs-tap" : view.loading ? "loading" : "allowed";
  show($("tap-overlay"), view.tap);
  let status = "";
  if (!track) status = "";
  else if (!listenHere) status = "Sound is off on this phone (Listening, below).";
  else if (room.group && room.group.listening_mode === "speaker" && !isSpeaker(room)) {
    status = "This phone is a remote: the room plays on its speaker.";
  } else if (track.service === "spotify" && followsOnSpotify(room)) status = "Playing on your own Spotify.";
  else if (view.error) status = "This track cannot play here; the others hear it.";
  else if (view.here && track.service === "spotify") status = "Not logged in to Spotify in this browser? You hear previews.";
  $("listen-status").textContent = status;
  show($("listen-status"), status !== "");
}

export function wireControls(getRoom, send) {
  $("btn-play").addEventListener("click", () => send({ type: getRoom().playback.is_playing ? "pause" : "play" }));
  $("btn-skip").addEventListener("click", () => {
    const track = currentTrack(getRoom());
    if (track) send({ type: "skip", expected_track_id: track.id });
  });
  $("btn-previous").addEventListener("click", () => {
    const track = currentTrack(getRoom());
    send({ type: "previous", expected_track_id: track ? track.id : null });
  });
  // Hosts seek with the keyboard: arrows ±5 s, Page Up/Down ±30 s, Home and End.
  $("progress").addEventListener("keydown", (event) => {
    const room = getRoom();
    const track = currentTrack(room);
    if (!isHost(room) || !track) return;
    const duration = track.duration_s * 1000;
    const now = Number($("progress").getAttribute("aria-valuenow")) * 1000;
    const steps = { ArrowRight: SEEK_STEP_MS, ArrowUp: SEEK_STEP_MS, ArrowLeft: -SEEK_STEP_MS, ArrowDown: -SEEK_STEP_MS, PageUp: 30_000, PageDown: -30_000 };
    let target = null;
    if (event.key in steps) target = now + steps[event.key];
    else if (event.key === "Home") target = 0;
    else if (event.key === "End") target = duration - 1000;
    if (target === null) return;
    event.preventDefault();
    send({ type: "seek", position_ms: Math.round(Math.min(Math.max(target, 0), Math.max(duration - 1000, 0))) });
  });
  // Hosts seek by tapping the progress bar.
  $("progress").addEventListener("click", (event) => {
    const room = getRoom();
    const track = currentTrack(room);
    if (!isHost(room) || !track) return;
    const box = $("progress").getBoundingClientRect();
    const fraction = Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1);
    send({ type: "seek", position_ms: Math.round(fraction * track.duration_s * 1000) });
  });
  $("btn-vote").addEventListener("click", () => {
    const track = currentTrack(getRoom());
    if (track) send({ type: "vote_skip", track_id: track.id });
  });
}
