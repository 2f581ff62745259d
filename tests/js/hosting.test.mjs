import assert from "node:assert/strict";
import { test } from "node:test";

import { LISTENER_NOTE, mayAdd, memberRules, refusalText } from "../../rooms_server/static/js/queue_rules.js";
import {
  expiryWords,
  handoverCandidates,
  inviteProblemText,
  leaveNeedsHandover,
  linkRow,
  newLinkBody,
  peopleOrder,
  personActions,
  roleLine,
  usageWords,
} from "../../rooms_server/static/js/roles.js";
import {
  DEFAULT_HOSTING,
  applyEvent,
  applySnapshot,
  canAdd,
  emptyRoom,
  hostNotice,
  isHost,
  isTheHost,
  roleLabel,
} from "../../rooms_server/static/js/reducer.js";

const ALICE = { user_id: "a", name: "Alice", role: "admin" };
const BOB = { user_id: "b", name: "Bob", role: "admin" };
const CARL = { user_id: "c", name: "Carl", role: "member" };
const DANA = { user_id: "d", name: "Dana", role: "listener" };
const hosting = (host, extra = {}) => ({ ...DEFAULT_HOSTING, host_user_id: host, ...extra });

const snapshot = (you, extra = {}) => ({
  type: "snapshot",
  epoch: "e1",
  seq: 10,
  group: { id: "g", name: "Roof", is_public: false, listening_mode: "everyone" },
  playlist: { id: "p", version: 1, current_index: 0, tracks: [] },
  playback: { is_playing: false, position_ms: 0, server_time_ms: 0 },
  votes: { track_id: null, votes: 0, needed: 1 },
  members: [ALICE, BOB, CARL, DANA],
  you,
  hosting: hosting("a"),
  ...extra,
});
let seq = 10;
const ev = (body) => ({ epoch: "e1", seq: ++seq, ts: 0, ...body });
const roomAs = (you, extra) => applySnapshot(emptyRoom(), snapshot(you, extra));
const changed = (room, host, cause, previous, extra = {}) =>
  applyEvent(room, ev({ type: "hosting_changed", hosting: hosting(host, extra), cause, previous_host_user_id: previous }));

test("hosting: the snapshot's hosting is kept", () => {
  const room = roomAs(CARL, { hosting: hosting("a", { grace_s: 300, failover_to_members: false, on_return: "keep" }) });
  assert.deepEqual(room.hosting, {
    host_user_id: "a",
    away_host_user_id: null,
    grace_s: 300,
    failover_to_members: false,
    on_return: "keep",
  });
  assert.equal(room.hostChange, null);
});

test("hosting: an older server's snapshot without hosting gets the defaults", () => {
  const frame = snapshot(CARL);
  delete frame.hosting;
  const room = applySnapshot(emptyRoom(), frame);
  assert.deepEqual(room.hosting, {
    host_user_id: null,
    away_host_user_id: null,
    grace_s: 120,
    failover_to_members: true,
    on_return: "hand_back",
  });
  assert.equal(isTheHost(room, "a"), false);
  assert.equal(roleLabel(room, ALICE), "Host"); // no named host: every admin is one
  assert.equal(roleLabel(room, BOB), "Host");
});

test("hosting: a partial hosting object is completed with the defaults", () => {
  const room = roomAs(CARL, { hosting: { host_user_id: "b" } });
  assert.equal(room.hosting.host_user_id, "b");
  assert.equal(room.hosting.grace_s, 120);
  assert.equal(room.hosting.on_return, "hand_back");
});

test("hosting: hosting_changed replaces the hosting and remembers the change", () => {
  const before = roomAs(CARL);
  const room = changed(before, "b", "failover", "a", { away_host_user_id: "a" });
  assert.equal(room.hosting.host_user_id, "b");
  assert.equal(room.hosting.away_host_user_id, "a");
  assert.deepEqual(room.hostChange, { cause: "failover", previous_host_user_id: "a", away_host_user_id: null, seq: room.seq });
  assert.equal(before.hosting.host_user_id, "a", "the room before is untouched");
  assert.equal(before.hostChange, null);
});

test("hosting: role_changed moves you.role and the member's role", () => {
  let room = roomAs(CARL);
  room = applyEvent(room, ev({ type: "role_changed", user_id: "c", role: "admin" }));
  assert.equal(room.you.role, "admin");
  assert.equal(room.members.find((m) => m.user_id === "c").role, "admin");
  assert.equal(isHost(room), true);
  room = applyEvent(room, ev({ type: "role_changed", user_id: "c", role: "listener" }));
  assert.equal(room.you.role, "listener");
  assert.equal(canAdd(room), false);
  room = applyEvent(room, ev({ type: "role_changed", user_id: "a", role: "member" }));
  assert.equal(room.you.role, "listener", "someone else's change leaves you alone");
});

test("hosting: isTheHost names the host only, not a co-host", () => {
  const room = roomAs(CARL);
  assert.equal(isTheHost(room, "a"), true);
  assert.equal(isTheHost(room, "b"), false);
  assert.equal(isTheHost(room, null), false);
  assert.equal(isTheHost(changed(room, "b", "handover", "a"), "b"), true);
});

test("hosting: roleLabel gives Host, Co-host, Listener, or nothing for a member", () => {
  const room = roomAs(CARL);
  assert.equal(roleLabel(room, ALICE), "Host");
  assert.equal(roleLabel(room, BOB), "Co-host");
  assert.equal(roleLabel(room, CARL), null);
  assert.equal(roleLabel(room, DANA), "Listener");
  assert.equal(roleLabel(room, undefined), null);
  const handed = changed(room, "b", "handover", "a");
  assert.equal(roleLabel(handed, ALICE), "Co-host");
  assert.equal(roleLabel(handed, BOB), "Host");
});

test("hosting: canAdd is false for a listener only", () => {
  assert.equal(canAdd(roomAs(ALICE)), true);
  assert.equal(canAdd(roomAs(CARL)), true);
  assert.equal(canAdd(roomAs(DANA)), false);
  assert.equal(canAdd(emptyRoom()), false, "nobody yet");
});

test("hosting: a listener may not add, even in an open room; the words say why", () => {
  const listener = roomAs(DANA);
  assert.equal(mayAdd(listener), false);
  assert.deepEqual(memberRules(listener), { limits: "", note: "" });
  assert.equal(mayAdd(roomAs(CARL)), true);
  assert.equal(refusalText("listeners_cannot_add", listener.queue), LISTENER_NOTE);
  assert.equal(LISTENER_NOTE, "You're listening — only members can add songs.");
});

test("hostNotice: nothing before any change, nothing for a settings change", () => {
  const room = roomAs(CARL);
  assert.equal(hostNotice(room), "");
  assert.equal(hostNotice(changed(room, "a", "settings", "a", { grace_s: 60 })), "");
  assert.equal(hostNotice(changed(room, "a", "something_new", "a")), "");
});

test("hostNotice: failover, for the others, the new host and the one who was away", () => {
  const next = (you) => changed(roomAs(you), "b", "failover", "a", { away_host_user_id: "a" });
  assert.equal(hostNotice(next(CARL)), "Bob is now the host — Alice was away.");
  assert.equal(hostNotice(next(BOB)), "You're the host now: Alice was away.");
  assert.equal(hostNotice(next(ALICE)), "Bob is now the host — you were away.");
});

test("hostNotice: handback and returned", () => {
  const away = (you, onReturn) =>
    changed(roomAs(you), "b", "failover", "a", { away_host_user_id: "a", on_return: onReturn });
  assert.equal(hostNotice(changed(away(CARL, "hand_back"), "a", "handback", "b")), "Alice is back and is the host again.");
  assert.equal(hostNotice(changed(away(ALICE, "hand_back"), "a", "handback", "b")), "You're back and the host again.");
  // "returned": the stand-in keeps the room; the one who came back is who was away.
  assert.equal(hostNotice(changed(away(CARL, "keep"), "b", "returned", "b", { on_return: "keep" })), "Alice is back; Bob stays the host.");
  assert.equal(hostNotice(changed(away(BOB, "keep"), "b", "returned", "b", { on_return: "keep" })), "Alice is back; you stay the host.");
  assert.equal(hostNotice(changed(away(ALICE, "keep"), "b", "returned", "a", { on_return: "keep" })), "You're back; Bob stays the host.");
  // A page that did not see the failover (opened after it) reads the server's previous host.
  assert.equal(hostNotice(changed(roomAs(CARL, { hosting: hosting("b") }), "b", "returned", "a")), "Alice is back; Bob stays the host.");
});

test("hostNotice: a handover", () => {
  assert.equal(hostNotice(changed(roomAs(CARL), "b", "handover", "a")), "Alice handed the room to Bob.");
  assert.equal(hostNotice(changed(roomAs(BOB), "b", "handover", "a")), "Alice handed the room to you.");
  assert.equal(hostNotice(changed(roomAs(ALICE), "b", "handover", "a")), "You handed the room to Bob.");
  assert.equal(hostNotice(changed(roomAs(DANA), "c", "handover", "a")), "Alice handed the room to Carl.");
});

test("hostNotice: the host left, named even after they left", () => {
  let room = roomAs(CARL);
  room = applyEvent(room, ev({ type: "role_changed", user_id: "b", role: "admin" }));
  room = applyEvent(room, ev({ type: "members_changed", joined: [], left: ["a"], count: 2 }));
  room = changed(room, "b", "left", "a");
  assert.equal(hostNotice(room), "Alice left; Bob is the host now.");
  let mine = applyEvent(roomAs(BOB), ev({ type: "members_changed", joined: [], left: ["a"], count: 2 }));
  mine = changed(mine, "b", "left", "a");
  assert.equal(hostNotice(mine), "Alice left; you're the host now.");
});

test("hostNotice: a name the page never saw reads Someone", () => {
  const room = changed(roomAs(CARL), "b", "left", "zz");
  assert.equal(hostNotice(room), "Someone left; Bob is the host now.");
});

test("hosting: someone who joined later is named in a notice", () => {
  let room = roomAs(CARL);
  room = applyEvent(room, ev({ type: "members_changed", joined: [{ user_id: "e", name: "Eve", role: "member" }], left: [], count: 4 }));
  room = changed(room, "e", "handover", "a");
  assert.equal(hostNotice(room), "Alice handed the room to Eve.");
  assert.equal(roleLabel(room, room.members.find((m) => m.user_id === "e")), null, "the event's role is the truth");
});

// -- roles.js: the people card, leaving, invite links, the join page --------------------------------

const labels = (actions) => actions.map((a) => a.label);

test("roles: the people card lists the host, co-hosts, members, listeners, by name in each", () => {
  const room = roomAs(CARL, {
    members: [DANA, CARL, { user_id: "z", name: "Zed", role: "admin" }, BOB, ALICE, { user_id: "e", name: "Abe", role: "member" }],
  });
  assert.deepEqual(peopleOrder(room).map((m) => m.name), ["Alice", "Bob", "Zed", "Abe", "Carl", "Dana"]);
});

test("roles: the host may change anyone's role, make them host or remove them", () => {
  const room = roomAs(ALICE);
  assert.deepEqual(labels(personActions(room, BOB)), ["Make member", "Make listener", "Make host", "Remove from the room"]);
  assert.deepEqual(labels(personActions(room, CARL)), ["Make co-host", "Make listener", "Make host", "Remove from the room"]);
  assert.deepEqual(labels(personActions(room, DANA)), ["Make co-host", "Make member", "Make host", "Remove from the room"]);
  assert.deepEqual(personActions(room, ALICE), [], "nothing for oneself");
  assert.deepEqual(personActions(room, BOB).map((a) => a.action), ["member", "listener", "host", "remove"]);
});

test("roles: a co-host has no Make host and cannot touch the host; members and listeners have no menu", () => {
  const room = roomAs(BOB);
  assert.deepEqual(personActions(room, ALICE), []);
  assert.deepEqual(labels(personActions(room, CARL)), ["Make co-host", "Make listener", "Remove from the room"]);
  assert.deepEqual(personActions(roomAs(CARL), DANA), []);
  assert.deepEqual(personActions(roomAs(DANA), CARL), []);
});

test("roles: on an older server (no named host) an admin acts on every other person, without Make host", () => {
  const frame = snapshot(ALICE);
  delete frame.hosting;
  const room = applySnapshot(emptyRoom(), frame);
  assert.deepEqual(labels(personActions(room, BOB)), ["Make member", "Make listener", "Remove from the room"]);
  assert.equal(leaveNeedsHandover(room), false);
});

test("roles: the host hands over to the co-hosts first, then members and listeners as they joined", () => {
  const room = roomAs(ALICE, {
    members: [ALICE, DANA, CARL, { user_id: "e", name: "Abe", role: "member" }, BOB],
  });
  assert.deepEqual(handoverCandidates(room).map((m) => m.name), ["Bob", "Carl", "Abe", "Dana"]);
  assert.equal(leaveNeedsHandover(room), true);
  assert.equal(leaveNeedsHandover(roomAs(BOB)), false, "a co-host just leaves");
  assert.equal(leaveNeedsHandover(roomAs(ALICE, { members: [ALICE] })), false, "nobody to hand it to");
});

test("roles: an invite link's uses in words", () => {
  assert.equal(usageWords({ uses: 3, max_uses: 10 }), "3 of 10 used");
  assert.equal(usageWords({ uses: 0, max_uses: 1 }), "0 of 1 used");
  assert.equal(usageWords({ uses: 3, max_uses: null }), "used 3 times");
  assert.equal(usageWords({ uses: 1, max_uses: null }), "used once");
  assert.equal(usageWords({ uses: 0, max_uses: null }), "not used yet");
});

test("roles: an invite link's end in words", () => {
  const now = Date.parse("2026-01-01T12:00:00Z");
  assert.equal(expiryWords("2026-01-01T12:45:00Z", now), "ends in 45 min");
  assert.equal(expiryWords("2026-01-01T13:00:00Z", now), "ends in 1 h");
  assert.equal(expiryWords("2026-01-01T12:58:30Z", now), "ends in 59 min");
  assert.equal(expiryWords("2026-01-02T12:00:00Z", now), "ends in 24 h");
  assert.equal(expiryWords("2026-01-08T12:00:00Z", now), "ends in 7 days");
  assert.equal(expiryWords("2026-01-01T11:00:00Z", now), "expired");
  assert.equal(expiryWords("soon", now), "");
});

test("roles: a link row names the link by its label, else its role", () => {
  const now = Date.parse("2026-01-01T12:00:00Z");
  const link = { id: "l1", url: "http://x/join/t", role: "admin", label: "Sam", max_uses: 1, uses: 1, expired_at: "2026-01-01T18:00:00Z" };
  assert.deepEqual(linkRow(link, now), { id: "l1", name: "Sam", meta: "Co-host · 1 of 1 used · ends in 6 h", url: "http://x/join/t", usedUp: true });
  const plain = linkRow({ ...link, role: "listener", label: null, max_uses: null, uses: 2 }, now);
  assert.equal(plain.name, "Listener link");
  assert.equal(plain.meta, "Listener · used 2 times · ends in 6 h");
  assert.equal(plain.usedUp, false);
  assert.equal(linkRow({ ...link, label: "  " }, now).name, "Co-host link");
});

test("roles: the new link's body: empty max uses is unlimited, empty label none", () => {
  assert.deepEqual(newLinkBody({ role: "member", maxUses: "", lifetimeS: "86400", label: "" }), { body: { role: "member", lifetime_s: 86400 } });
  assert.deepEqual(newLinkBody({ role: "admin", maxUses: " 5 ", lifetimeS: "3600", label: " Sam " }), {
    body: { role: "admin", lifetime_s: 3600, max_uses: 5, label: "Sam" },
  });
  assert.match(newLinkBody({ role: "member", maxUses: "0", lifetimeS: "3600" }).error, /1 to 10000/);
  assert.match(newLinkBody({ role: "member", maxUses: "2.5", lifetimeS: "3600" }).error, /whole number/);
  assert.match(newLinkBody({ role: "member", maxUses: "", lifetimeS: "3600", label: "x".repeat(81) }).error, /80/);
});

test("roles: the join page says a listener's and a co-host's invite, nothing for a member's", () => {
  assert.match(roleLine("listener"), /^You're invited as a listener/);
  assert.match(roleLine("admin"), /^You're invited as a co-host/);
  assert.equal(roleLine("member"), "");
  assert.equal(roleLine(undefined), "");
});

test("roles: a used-up invite, an expired one and an unknown one in words", () => {
  const refused = (status, code) => ({ status, data: { error: { code, message: "m" } } });
  assert.equal(inviteProblemText(refused(410, "invite_used_up"))[0], "This invite has been used up");
  assert.match(inviteProblemText(refused(410, "invite_used_up"))[1], /Ask the host for a new one/);
  assert.equal(inviteProblemText(refused(410, "invite_expired"))[0], "This invite has expired");
  assert.equal(inviteProblemText(refused(404, "not_found"))[0], "This invite is no longer valid");
  assert.equal(inviteProblemText(refused(500, "boom")), null);
});
