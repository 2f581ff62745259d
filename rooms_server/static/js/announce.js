// What a track change says: shown under "Now playing" for everyone and read out by screen readers
// (an aria-live region). Pure.

import { currentTrack, queueOver } from "./reducer.js";

/** {shown, spoken} for the room after its current track changed; byVote when a vote skipped. */
export function trackChangeText(room, { byVote = false } = {}) {
  const track = currentTrack(room);
  const lead = byVote ? "Skipped by vote. " : "";
  if (queueOver(room)) {
    const text = `${lead}That was the last song: add a song to keep going.`;
    return { shown: text, spoken: text };
  }
  if (!track) return { shown: byVote ? "Skipped by vote." : "", spoken: lead.trim() };
  return { shown: byVote ? "Skipped by vote" : "", spoken: `${lead}Now playing: ${track.title}, added by ${track.added_by_name}.` };
}
