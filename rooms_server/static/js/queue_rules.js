// The room's queue rules in words (pure): the status line everyone sees, the limits a member adds
// under, whether this person may add at all, and what a refused add means. The rules themselves
// are the server's (rooms_server/queue_rules.py); this only says them.

import { formatTime } from "./format.js";
import { canAdd, isHost } from "./reducer.js";

export const HOSTS_ONLY_NOTE = "Only the hosts add songs in this room — you can vote and chat";
export const LISTENER_NOTE = "You're listening — only members can add songs.";

const REPEAT_WORDS = { one: "Repeat one", all: "Repeat all" };

/** The upcoming tracks: after the current one (none once the queue is over). */
export const upcoming = (room) => room.tracks.slice(room.index + 1);

/** Whose song plays next under fair turns ("you" for this person's own), or null when none waits. */
export function nextTurn(room) {
  const [next] = upcoming(room);
  if (!next) return null;
  return room.you && next.added_by === room.you.user_id ? "you" : next.added_by_name;
}

/** "Fair turns · next: Bob · Repeat all · Autoplay on": how the queue runs now, for everyone. */
export function statusLine(room) {
  const queue = room.queue;
  const parts = [];
  if (queue.queue_mode === "fair_turns") {
    const turn = nextTurn(room);
    parts.push(turn ? `Fair turns · next: ${turn}` : "Fair turns");
  } else {
    parts.push("In order");
  }
  if (REPEAT_WORDS[queue.repeat]) parts.push(REPEAT_WORDS[queue.repeat]);
  if (queue.autoplay) parts.push("Autoplay on");
  if (queue.who_may_add === "hosts") parts.push("Hosts add the songs");
  return parts.join(" · ");
}

/** "20 min", "1:30", "45 s", "2 h": a length in seconds, as short as it reads. */
export function lengthWords(seconds) {
  if (seconds < 60) return `${seconds} s`;
  if (seconds % 3600 === 0 && seconds >= 7200) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return formatTime(seconds * 1000);
}

const minutesWords = (minutes) => lengthWords(minutes * 60);

/** The limits a member adds under, "" when none applies (each limit is off at 0). */
export function limitsLine(queue) {
  const parts = [];
  const waiting = queue.max_queued_per_member;
  if (waiting) parts.push(`Up to ${waiting} ${waiting === 1 ? "song" : "songs"} waiting each`);
  if (queue.max_track_s) parts.push(`songs up to ${lengthWords(queue.max_track_s)}`);
  if (queue.replay_block_min) parts.push(`no repeats within ${minutesWords(queue.replay_block_min)}`);
  if (!parts.length) return "";
  const line = parts.join(" · ");
  return line[0].toUpperCase() + line.slice(1);
}

/** Whether this person may add songs: hosts always; members unless the room is curated; listeners never. */
export const mayAdd = (room) => isHost(room) || (canAdd(room) && room.queue.who_may_add !== "hosts");

/** What a member sees about the rules: the limits line and the curated-room note ("" when none). A
 * listener reads none of them: the add card says instead that listeners do not add. */
export function memberRules(room) {
  if (isHost(room) || !canAdd(room)) return { limits: "", note: "" };
  if (!mayAdd(room)) return { limits: "", note: HOSTS_ONLY_NOTE };
  return { limits: limitsLine(room.queue), note: "" };
}

/** The words for an add the queue's rules refused, or null when `code` is not one of them. */
export function refusalText(code, queue) {
  switch (code) {
    case "hosts_only":
      return HOSTS_ONLY_NOTE;
    case "listeners_cannot_add":
      return LISTENER_NOTE;
    case "member_queue_limit": {
      const n = queue.max_queued_per_member;
      return n ? `You already have ${n} ${n === 1 ? "song" : "songs"} waiting — wait until one plays` : "You have enough songs waiting — wait until one plays";
    }
    case "track_too_long":
      // The service's own limit (a live stream, a 12-hour video) has the same code: its message then.
      return queue.max_track_s ? `Songs in this room can be up to ${lengthWords(queue.max_track_s)} long — pick a shorter one` : null;
    case "recently_played":
      return queue.replay_block_min
        ? `This song played in the last ${minutesWords(queue.replay_block_min)} — pick another one for now`
        : "This song played a moment ago — pick another one for now";
    default:
      return null;
  }
}
