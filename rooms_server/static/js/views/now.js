// The "Now playing" card: the player (or why there is none), the title, the progress bar from the
// room's clock, the host's controls and the members' vote to skip.

import { $, show } from "../dom.js";
import { formatTime, serviceName } from "../format.js";
import { currentTrack, followsOnSpotify, isHost, isSpeaker } from "../reducer.js";
import { positionAt, clockAt } from "../sync.js";

export function renderNow(room) {
  const track = currentTrack(room);
  $("now-title").textContent = track ? track.title : room.tracks.length ? "End of the queue" : "Nothing yet";
  $("now-meta").textContent = track
    ? `Added by ${track.added_by_name} · ${serviceName(track.service)}`
    : room.tracks.length
      ? "Go back a track, or add more songs."
      : "Add a song below to get started.";
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
