// Who is who in the room, in words (pure): the order of the people card, what a host may do to each
// other person, whom the host hands the room to on leaving, and an invite link's role, uses and
// expiry. The rules are the server's (issue 17: co-hosts have every host right except demoting or
// removing the host); this only says and orders them.

import { isHost, isMine, isTheHost, roleLabel } from "./reducer.js";

const RANK = { Host: 0, "Co-host": 1, null: 2, Listener: 3 };

/** The people card's order: the host, the co-hosts, the members, the listeners; by name in each. */
export function peopleOrder(room) {
  const rank = (m) => RANK[roleLabel(room, m)] ?? 2;
  return room.members.slice().sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

/**
 * What this person (a host or co-host) may do to `member`, as [{action, label}]: the role changes
 * (PATCH members), "Make host" (POST /host, the host alone) and removing. Nothing for oneself, for a
 * non-host, and nothing to the host for a co-host (the server answers 409 `is_host`).
 */
export function personActions(room, member) {
  if (!isHost(room) || isMine(room, member.user_id)) return [];
  if (isTheHost(room, member.user_id)) return [];
  const actions = [];
  if (member.role !== "admin") actions.push({ action: "admin", label: "Make co-host" });
  if (member.role !== "member") actions.push({ action: "member", label: "Make member" });
  if (member.role !== "listener") actions.push({ action: "listener", label: "Make listener" });
  if (isTheHost(room, room.you.user_id)) actions.push({ action: "host", label: "Make host" });
  actions.push({ action: "remove", label: "Remove from the room" });
  return actions;
}

/** Whom the host may hand the room to: the co-hosts first, then the members and then the listeners,
 * each in the members list's order (the order they joined). */
export function handoverCandidates(room) {
  const others = room.members.filter((m) => !isMine(room, m.user_id));
  return ["admin", "member", "listener"].flatMap((role) => others.filter((m) => m.role === role));
}

/** Whether leaving asks whom to hand the room to: the host, with someone else in the room. */
export const leaveNeedsHandover = (room) =>
  room.you !== null && isTheHost(room, room.you.user_id) && handoverCandidates(room).length > 0;

// -- invite links ---------------------------------------------------------------------------------

export const LINK_ROLES = Object.freeze({ listener: "Listener", member: "Member", admin: "Co-host" });

/** "3 of 10 used", "used 3 times", "not used yet" (max_uses null: unlimited). */
export function usageWords(link) {
  const uses = Number(link.uses) || 0;
  if (link.max_uses !== null && link.max_uses !== undefined) return `${uses} of ${link.max_uses} used`;
  if (uses === 0) return "not used yet";
  return uses === 1 ? "used once" : `used ${uses} times`;
}

/** Whether a link with a use limit has none left. */
export const usedUp = (link) => link.max_uses !== null && link.max_uses !== undefined && link.uses >= link.max_uses;

/** "ends in 45 min", "ends in 5 h", "ends in 3 days", "expired": an expiry from now (both ms). */
export function expiryWords(expiredAt, nowMs) {
  const left = new Date(expiredAt).getTime() - nowMs;
  if (Number.isNaN(left)) return "";
  if (left <= 0) return "expired";
  const minutes = Math.ceil(left / 60_000);
  if (minutes < 60) return `ends in ${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `ends in ${hours} h`;
  return `ends in ${Math.round(hours / 24)} days`;
}

/** An invite link as the list shows it: its name, then "Co-host · 3 of 10 used · ends in 5 h". */
export function linkRow(link, nowMs) {
  const role = LINK_ROLES[link.role] || "Member";
  const name = link.label && String(link.label).trim() ? String(link.label).trim() : `${role} link`;
  const parts = [role, usageWords(link), expiryWords(link.expired_at, nowMs)].filter(Boolean);
  return { id: link.id, name, meta: parts.join(" · "), url: link.url, usedUp: usedUp(link) };
}

/** The body of a new link from the form's values: max uses empty = unlimited, label empty = none.
 * Returns {body} or {error} in words. */
export function newLinkBody({ role, maxUses, lifetimeS, label }) {
  const body = { role, lifetime_s: Number(lifetimeS) };
  const uses = String(maxUses ?? "").trim();
  if (uses !== "") {
    const n = Number(uses);
    if (!Number.isInteger(n) || n < 1 || n > 10000) return { error: "Max uses: a whole number from 1 to 10000, or empty for no limit." };
    body.max_uses = n;
  }
  const text = String(label ?? "").trim();
  if (text.length > 80) return { error: "Keep the label to 80 characters." };
  if (text) body.label = text;
  return { body };
}

// -- the invite page --------------------------------------------------------------------------------

/** What the invite makes you: a line for a listener or a co-host invite, "" for a member's (the usual). */
export function roleLine(role) {
  if (role === "listener") return "You're invited as a listener: you hear the music, chat and vote, and the others add the songs.";
  if (role === "admin") return "You're invited as a co-host: you can play, skip and run the room with the host.";
  return "";
}

/** The problem page's title and sentence for an invite the server refused (404 or 410). */
export function inviteProblemText(result) {
  const code = result && result.data && result.data.error ? result.data.error.code : null;
  if (result.status === 410 && code === "invite_used_up") {
    return ["This invite has been used up", "It worked a set number of times and they are all used. Ask the host for a new one."];
  }
  if (result.status === 410) return ["This invite has expired", "Invites only work for a while, and this one has run out."];
  if (result.status === 404) return ["This invite is no longer valid", "The host has replaced or revoked it, or the link is incomplete."];
  return null;
}
