// The room page (/groups/{id}): composes the socket, the conductor (this phone's player) and the
// views. Each view module renders one card from the room state; none of them keeps its own copy.

import { monotonicNow } from "./clock.js";
import { Conductor } from "./conductor.js";
import { $, flasher, show } from "./dom.js";
import { canAdd, currentTrack, hostNotice, isHost, isMine, queueOver, roleLabel } from "./reducer.js";
import { deviceId, listensHere, loadSession, setListensHere } from "./session.js";
import { RoomConnection } from "./socket.js";
import { trackChangeText } from "./announce.js";
import { AddCard } from "./views/add.js";
import { ChatLog } from "./views/chat.js";
import { HostingCard } from "./views/hosting.js";
import { InviteCard } from "./views/invite.js";
import { InviteLinksCard } from "./views/invite_links.js";
import { LeaveCard } from "./views/leave.js";
import { ListeningCard } from "./views/listening.js";
import { renderListening, renderNow, renderProgress, renderSeekRole, wireControls } from "./views/now.js";
import { renderPeople } from "./views/people.js";
import { PlayedCard } from "./views/played.js";
import { renderQueue, wireQueueTools } from "./views/queue.js";
import { QueueSettingsCard } from "./views/queue_settings.js";
import { SettingsCard } from "./views/settings.js";
import { mayAdd } from "./queue_rules.js";

const PROGRESS_EVERY_MS = 250;
const LINK_EVENTS = new Set(["invite_links_changed", "members_changed", "role_changed"]);

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status-text").textContent = text;
}

function fatal(title, text) {
  $("fatal-title").textContent = title;
  $("fatal-text").textContent = text;
  show($("fatal"), true);
  show($("room"), false);
}

function renderHeader(room) {
  if (!room.group) return;
  $("room-name").textContent = room.group.name;
  document.title = `${room.group.name} · Listening Rooms`;
  if (room.you) {
    const label = roleLabel(room, room.you);
    $("you").textContent = `You are ${room.you.name}${label ? ` · ${label.toLowerCase()}` : ""}`;
  }
  for (const el of document.querySelectorAll("[data-admin]")) show(el, isHost(room));
  for (const el of document.querySelectorAll("[data-member]")) show(el, !isHost(room));
  $("progress").classList.toggle("seekable", isHost(room));
  $("progress").title = isHost(room) ? "Tap to seek" : "";
  $("screen-link").href = `${location.pathname.replace(/\/$/, "")}/screen`;
  show($("screen-link"), isHost(room));
}

/** "Skipped by vote", "That was the last song": what changed, for everyone, for a while. */
function noticer() {
  let timer = null;
  return (text, ms = 8000) => {
    $("now-notice").textContent = text;
    show($("now-notice"), text !== "");
    clearTimeout(timer);
    if (text && ms) timer = setTimeout(() => show($("now-notice"), false), ms);
  };
}

function main() {
  const groupId = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
  const session = loadSession();
  if (!session) {
    show($("you"), false);
    setStatus("stopped", "Disconnected");
    fatal("Open your invite link first", "This phone has not joined the room yet. Scan the host's QR code, or type the room's code on the start page.");
    return;
  }
  const flash = flasher($("now-error"));
  const notice = noticer();
  let lastTrackId;
  let listenHere = listensHere(groupId);
  let view = { here: false, tap: false, service: null };
  let conductor = null;
  let wasRole = null;
  let leaving = false;

  const connection = new RoomConnection({
    groupId,
    token: session.token,
    deviceId: deviceId(),
    callbacks: {
      onRoom: (room, cause) => onRoom(room, cause),
      onStatus: setStatus,
      onFatal: (title, text) => leaving || fatal(title, text),
      onSignal: () => inviteLinks.refresh(),
      onNotice: (frame) => listening.notice(frame),
      onError: flash,
      onClock: () => conductor && conductor.clockChanged(),
    },
  });
  const getRoom = () => connection.room;
  const send = (frame, callbacks) => connection.send(frame, callbacks);
  const invite = new InviteCard({
    groupId,
    token: session.token,
    isHost: () => isHost(getRoom()),
    isListener: () => !canAdd(getRoom()),
  });
  const chat = new ChatLog({ send, isMine: (userId) => isMine(getRoom(), userId) });
  const settings = new SettingsCard({ groupId, token: session.token });
  const add = new AddCard({ send, token: session.token, getRoom });
  const played = new PlayedCard({ groupId, token: session.token, send, getRoom, now: () => connection.serverNow() });
  const queueSettings = new QueueSettingsCard({ send, getRoom });
  const inviteLinks = new InviteLinksCard({ groupId, token: session.token, now: () => connection.serverNow() });
  const hosting = new HostingCard({ groupId, token: session.token, getRoom });
  new LeaveCard({
    groupId,
    token: session.token,
    getRoom,
    onLeaving: (on) => (leaving = on),
    onLeft: () => {
      connection.close();
      location.assign("/");
    },
  });
  const listening = new ListeningCard({
    getRoom,
    send,
    token: session.token,
    listenHere,
    onListenHere: (on) => {
      listenHere = on;
      setListensHere(groupId, on);
      conductor.setListenHere(on);
      renderAll(getRoom());
    },
  });
  conductor = new Conductor({
    mount: $("player-mount"),
    connection,
    listenHere,
    now: monotonicNow,
    onView: (next) => {
      view = next;
      renderListening(getRoom(), view, { listenHere });
    },
  });
  $("btn-tap").addEventListener("click", () => conductor.userStart());
  wireControls(getRoom, send);
  wireQueueTools(send);
  add.load();

  function renderAll(room) {
    renderHeader(room);
    renderNow(room);
    renderProgress(room, connection.serverNow());
    renderSeekRole(room);
    renderQueue(room, send);
    // A listener's add card is one line saying so; a member of a curated room reads the queue's note.
    show($("add-card"), mayAdd(room) || !canAdd(room));
    show($("add-forms"), mayAdd(room));
    show($("add-listener"), room.you !== null && !canAdd(room));
    queueSettings.render(room);
    played.render(room);
    renderPeople(room, { groupId, token: session.token });
    chat.render(room.chat);
    chat.renderReactions(room.reactions);
    settings.render(room);
    hosting.render(room);
    inviteLinks.setActive(isHost(room));
    listening.render(room, { listenHere });
    renderListening(room, view, { listenHere });
  }

  function onRoom(room, cause) {
    show($("room"), true);
    conductor.update(room);
    renderAll(room);
    const role = room.you ? room.you.role : null;
    // The snapshot and invite_changed carry the invite; a server without them is asked over HTTP.
    if (room.invite !== undefined) {
      if (room.invite !== invite.given || role !== wasRole) invite.show(room.invite);
    } else if (cause.snapshot || role !== wasRole) invite.load(); // a promotion shows the host's invite tools
    wasRole = role;
    // A join through a link counts a use: the hosts' list says "3 of 10 used" again.
    if (cause.event && LINK_EVENTS.has(cause.event.type)) inviteLinks.refresh();
    announceChange(room, cause);
    if (cause.event && cause.event.type === "hosting_changed") announceHost(room);
  }

  /** "Bob is now the host — Alice was away.": shown under Now playing and read out. */
  function announceHost(room) {
    const text = hostNotice(room);
    if (!text) return;
    $("announce").textContent = text;
    notice(text, 12000);
  }

  function announceChange(room, cause) {
    const track = currentTrack(room);
    const id = queueOver(room) ? "over" : track ? track.id : null;
    if (id === lastTrackId) return;
    const first = lastTrackId === undefined;
    lastTrackId = id;
    played.refresh(); // on opening, and a track change ends a play: the history has a new entry
    if (first && cause.snapshot) return; // opening the page is no change
    const byVote = Boolean(cause.event && cause.event.cause === "vote") || (room.change && room.change.cause === "vote" && room.change.seq === room.seq);
    const text = trackChangeText(room, { byVote });
    $("announce").textContent = text.spoken;
    notice(text.shown);
  }

  setInterval(() => renderProgress(getRoom(), connection.serverNow()), PROGRESS_EVERY_MS);
  connection.connect();
}

main();
