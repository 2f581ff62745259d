// The room as this phone knows it, from the snapshot and the events after it. Pure: every
// function returns a new room and never touches its argument (the views compare and redraw).

export const CHAT_KEPT = 100;
// The server's fixed set, in its order; the snapshot's `reactions` list replaces it.
export const DEFAULT_REACTIONS = Object.freeze(["🔥", "❤️", "😂", "👏", "🎉", "😮", "💃", "👍"]);

/** A chat or reaction line as the page keeps it; `at` is the server's ISO time (null when it had none). */
export function chatEntry(kind, frame) {
  return {
    kind,
    user_id: frame.user_id,
    name: frame.name,
    text: kind === "chat" ? frame.text : frame.emoji,
    at: typeof frame.sent_at === "string" ? frame.sent_at : null,
  };
}

// The server's defaults (queue_rules.QueueSettings): a snapshot from an older server has no `queue`.
export const DEFAULT_QUEUE = Object.freeze({
  queue_mode: "in_order",
  repeat: "off",
  autoplay: false,
  autoplay_avoid_last: 10,
  who_may_add: "everyone",
  max_queued_per_member: 10,
  max_track_s: 1200,
  replay_block_min: 60,
});

/** The queue settings as the page keeps them: every field, the defaults for those not told. */
export const readQueue = (queue) => ({ ...DEFAULT_QUEUE, ...(queue && typeof queue === "object" ? queue : {}) });

// Who holds the room (issue 17); a snapshot from an older server has no `hosting`: no one is "the"
// host then, every admin is one.
export const DEFAULT_HOSTING = Object.freeze({
  host_user_id: null,
  away_host_user_id: null,
  grace_s: 120,
  failover_to_members: true,
  on_return: "hand_back",
});

/** The hosting as the page keeps it: every field, the defaults for those not told. */
export const readHosting = (hosting) => ({ ...DEFAULT_HOSTING, ...(hosting && typeof hosting === "object" ? hosting : {}) });

export function emptyRoom() {
  return {
    epoch: null,
    seq: 0,
    group: null, // {id, name, is_public, listening_mode}
    tracks: [],
    index: 0,
    playback: { is_playing: false, position_ms: 0, server_time_ms: 0 },
    playbackFor: null, // the track the playback belongs to (a track change sends index, then playback)
    votes: { track_id: null, votes: 0, needed: 1 },
    members: [], // [{user_id, name, role}], as the server lists them (a big room's snapshot lists 100)
    memberCount: 0, // how many are in the room: more than members.length when the snapshot was bounded
    you: null,
    deviceKey: null,
    speakers: [], // [{device_key, user_id, name}]
    followers: [], // user ids whose own Spotify follows the room
    chat: [], // [{kind: "chat"|"reaction", user_id, name, text, at}]
    reactions: DEFAULT_REACTIONS,
    invite: undefined, // the room's invite (object), none (null), or not told by the server (undefined)
    queueEnded: false, // the last track ended: the room stopped, waiting for a new song
    change: null, // the last track change: {cause, track_id, seq}, for "skipped by vote"
    queue: DEFAULT_QUEUE, // the room's queue settings (readQueue)
    hosting: DEFAULT_HOSTING, // who holds the room and what happens when they are away (readHosting)
    hostChange: null, // the last hosting_changed: {cause, previous_host_user_id, away_host_user_id, seq}
    names: {}, // user id → name of everyone this page has seen, so a notice can name who left
  };
}

/** Every member's name, added to those the page already knew. */
const withNames = (names, members) => ({ ...names, ...Object.fromEntries(members.map((m) => [m.user_id, m.name])) });

export function applySnapshot(room, frame) {
  return {
    ...emptyRoom(),
    // The snapshot carries the last messages; a server without chat history leaves the page's own.
    chat: Array.isArray(frame.chat) ? frame.chat.map((m) => chatEntry("chat", m)) : room.chat,
    reactions: Array.isArray(frame.reactions) && frame.reactions.length ? frame.reactions.slice() : DEFAULT_REACTIONS,
    invite: frame.invite === undefined ? undefined : frame.invite,
    queueEnded: Boolean(frame.queue_ended ?? (frame.room && frame.room.queue_ended) ?? frame.playlist.queue_ended),
    epoch: frame.epoch,
    seq: frame.seq,
    group: { listening_mode: "everyone", ...frame.group },
    tracks: frame.playlist.tracks.slice(),
    index: frame.playlist.current_index,
    playback: frame.playback,
    playbackFor: (frame.playlist.tracks[frame.playlist.current_index] || { id: null }).id,
    votes: frame.votes,
    members: frame.members.slice(),
    memberCount: frame.member_count ?? frame.members.length,
    you: frame.you,
    deviceKey: frame.device_key ?? null,
    speakers: (frame.speakers || []).slice(),
    followers: (frame.followers || []).slice(),
    queue: readQueue(frame.queue),
    hosting: readHosting(frame.hosting),
    names: withNames(room.names || {}, frame.members),
  };
}

/** The room after one event (already checked to be the next in seq order). */
export function applyEvent(room, event) {
  const next = { ...room, seq: event.seq };
  switch (event.type) {
    case "track_added": {
      const tracks = room.tracks.slice();
      tracks.splice(event.index, 0, event.track);
      return { ...next, tracks };
    }
    case "track_removed":
      return { ...next, tracks: room.tracks.filter((t) => t.id !== event.track_id) };
    case "track_moved": {
      const track = room.tracks.find((t) => t.id === event.track_id);
      if (!track) return next;
      const tracks = room.tracks.filter((t) => t.id !== event.track_id);
      tracks.splice(event.index, 0, track);
      return { ...next, tracks };
    }
    case "index_changed": {
      const change = { cause: event.cause || null, track_id: event.track_id ?? null, seq: event.seq };
      const queueEnded = typeof event.queue_ended === "boolean" ? event.queue_ended : event.cause === "queue_end";
      if (event.playback) {
        // A track change is one frame: the new track's playback comes with it, and it has no votes yet.
        const votes = { track_id: event.track_id ?? null, votes: 0, needed: room.votes.needed };
        const playbackFor = event.track_id ?? null;
        return { ...next, index: event.index, change, queueEnded, playback: event.playback, playbackFor, votes };
      }
      // From an older server: the first song of an idle room comes with no playback of its own, the
      // room's stopped playback (at 0) is its playback, so the phones load it at once.
      const idleStart = event.cause === "added" && !room.playback.is_playing;
      const playbackFor = idleStart ? (event.track_id ?? room.playbackFor) : room.playbackFor;
      return { ...next, index: event.index, change, queueEnded, playbackFor };
    }
    case "playback_changed": {
      const ended = event.cause === "queue_end" ? true : event.playback.is_playing ? false : room.queueEnded;
      return { ...next, playback: event.playback, playbackFor: event.track_id, queueEnded: ended };
    }
    case "queue_settings_changed":
      return { ...next, queue: readQueue(event.queue) };
    case "queue_reordered":
      return { ...next, ...reordered(room, event.track_ids), index: event.current_index };
    case "invite_changed":
      return { ...next, invite: event.invite ?? null };
    case "votes_changed":
      return {
        ...next,
        votes: { track_id: event.track_id, votes: event.votes, needed: event.needed ?? room.votes.needed },
      };
    case "members_changed": {
      const changed = new Set([...event.joined.map((m) => m.user_id), ...event.left]);
      const kept = room.members.filter((m) => !changed.has(m.user_id));
      const joined = event.joined.map((m) => ({ user_id: m.user_id, name: m.name, role: m.role }));
      const members = [...kept, ...joined];
      return { ...next, members, memberCount: event.count, names: withNames(room.names, joined) };
    }
    case "member_removed": // their sockets close next: the members_changed that follows has the count
      return { ...next, members: room.members.filter((m) => m.user_id !== event.user_id) };
    case "role_changed": {
      const members = room.members.map((m) => (m.user_id === event.user_id ? { ...m, role: event.role } : m));
      const you = room.you && room.you.user_id === event.user_id ? { ...room.you, role: event.role } : room.you;
      return { ...next, members, you };
    }
    case "hosting_changed": {
      const hostChange = {
        cause: event.cause || null,
        previous_host_user_id: event.previous_host_user_id ?? null,
        // Who was away before this change: the one who came back, for "returned" and "handback".
        away_host_user_id: room.hosting.away_host_user_id,
        seq: event.seq,
      };
      return { ...next, hosting: readHosting(event.hosting), hostChange };
    }
    case "chat":
    case "reaction":
      return { ...next, chat: [...room.chat, chatEntry(event.type, event)].slice(-CHAT_KEPT) };
    case "group_changed":
      return { ...next, group: { ...room.group, name: event.name, is_public: event.is_public } };
    case "listening_mode_changed":
      return { ...next, group: { ...room.group, listening_mode: event.listening_mode } };
    case "speakers_changed":
      return { ...next, speakers: event.speakers.slice() };
    case "follow_changed": {
      const others = room.followers.filter((id) => id !== event.user_id);
      return { ...next, followers: event.following ? [...others, event.user_id] : others };
    }
    default:
      return next; // group_deleted and event types this page does not know yet change nothing here
  }
}

/** The tracks in the order the server lists them; a track this page does not know is skipped,
 * one the server did not list (a missed event: the next gap check resyncs) stays at the end. */
function reordered(room, trackIds) {
  const byId = new Map(room.tracks.map((t) => [t.id, t]));
  const listed = trackIds.filter((id) => byId.has(id)).map((id) => byId.get(id));
  const named = new Set(trackIds);
  return { tracks: [...listed, ...room.tracks.filter((t) => !named.has(t.id))] };
}

// -- what the room means for this phone ------------------------------------------------------------

export const currentTrack = (room) => room.tracks[room.index] || null;

/** False between a track change and the playback that comes with it: nothing to play yet. */
export const playbackKnown = (room) => {
  const track = currentTrack(room);
  return track === null || room.playbackFor === track.id;
};
export const upNext = (room, count = 3) => room.tracks.slice(room.index + 1, room.index + 1 + count);

/** Past the last track, or the server said the queue ended: "add a song to keep going". */
export const queueOver = (room) =>
  room.tracks.length > 0 && (room.index >= room.tracks.length || (room.queueEnded && !room.playback.is_playing));

/** The last `count` reactions, newest last. */
export const lastReactions = (room, count = 8) => room.chat.filter((e) => e.kind === "reaction").slice(-count);

export const isHost = (room) => room.you !== null && room.you.role === "admin";
export const isMine = (room, userId) => room.you !== null && room.you.user_id === userId;
export const isSpeaker = (room) => room.deviceKey !== null && room.speakers.some((s) => s.device_key === room.deviceKey);
export const followsOnSpotify = (room) => room.you !== null && room.followers.includes(room.you.user_id);

/**
 * Whether this phone plays the room's sound: the room's mode, this device's role in it and the
 * phone's own "listen on this phone" switch. A member whose own Spotify follows the room does
 * not also play its Spotify tracks here (twice the sound, out of step).
 */
export function shouldPlayHere(room, { listenHere }) {
  if (!listenHere || !room.group) return false;
  if (room.group.listening_mode === "speaker" && !isSpeaker(room)) return false;
  const track = currentTrack(room);
  if (track && track.service === "spotify" && followsOnSpotify(room)) return false;
  return true;
}

// -- the host, co-hosts and listeners (issue 17) ---------------------------------------------------

/** Whether `userId` is the room's one host (not a co-host); false on a server that names none. */
export const isTheHost = (room, userId) =>
  Boolean(userId) && room.hosting.host_user_id !== null && room.hosting.host_user_id === userId;

export const isListener = (room) => room.you !== null && room.you.role === "listener";

/** The badge of a member: "Host", "Co-host", "Listener", or null for a member. An older server names
 * no host: every admin is one. */
export function roleLabel(room, member) {
  if (!member) return null;
  if (member.role === "admin") {
    return room.hosting.host_user_id === null || isTheHost(room, member.user_id) ? "Host" : "Co-host";
  }
  return member.role === "listener" ? "Listener" : null;
}

/** Whether this person's role lets them add songs at all (the queue's rules may still refuse). */
export const canAdd = (room) => room.you !== null && room.you.role !== "listener";

/** A name for the notice: a member now, or someone this page saw before they left. */
function nameOf(room, userId) {
  const member = room.members.find((m) => m.user_id === userId);
  return (member && member.name) || (room.names && room.names[userId]) || "Someone";
}

/** The last hosting change in one sentence for everyone ("" when there is nothing to say). */
export function hostNotice(room) {
  const change = room.hostChange;
  if (!change) return "";
  const me = room.you ? room.you.user_id : null;
  const now = room.hosting.host_user_id;
  const before = change.previous_host_user_id;
  const name = (id) => nameOf(room, id);
  switch (change.cause) {
    case "failover":
      if (now === me) return `You're the host now: ${name(before)} was away.`;
      if (before === me) return `${name(now)} is now the host — you were away.`;
      return `${name(now)} is now the host — ${name(before)} was away.`;
    case "handback":
      return now === me ? "You're back and the host again." : `${name(now)} is back and is the host again.`;
    case "returned": {
      // The one who came back: who was away before this change (the server's previous host if not told).
      const back = change.away_host_user_id ?? (before !== now ? before : null);
      if (back === me) return `You're back; ${name(now)} stays the host.`;
      if (now === me) return `${name(back)} is back; you stay the host.`;
      return `${name(back)} is back; ${name(now)} stays the host.`;
    }
    case "handover":
      if (before === me) return `You handed the room to ${name(now)}.`;
      if (now === me) return `${name(before)} handed the room to you.`;
      return `${name(before)} handed the room to ${name(now)}.`;
    case "left":
      return now === me ? `${name(before)} left; you're the host now.` : `${name(before)} left; ${name(now)} is the host now.`;
    default:
      return ""; // "settings": the grace time or the return rule changed, nobody changed places
  }
}
