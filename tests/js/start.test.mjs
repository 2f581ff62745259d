// The start page's and the add card's pure rules: join codes as typed, what the server can look up,
// search results in one shape, command ids and the resend after a lost answer.
import assert from "node:assert/strict";
import { test } from "node:test";

import { CODE_ALPHABET, codeProblem, normalizeCode, spacedCode } from "../../rooms_server/static/js/codes.js";
import { artworkUrl, chatKey, guessService, phoneAddress, timeOfDay } from "../../rooms_server/static/js/format.js";
import { RESEND_WINDOW_MS, commandId, reconcile } from "../../rooms_server/static/js/resume.js";
import {
  NO_SOURCES,
  addErrorText,
  manualExplanation,
  needsManual,
  readResult,
  readSources,
  searchable,
} from "../../rooms_server/static/js/sources.js";

test("codes: any case, spaces and dashes are the same code; look-alikes are refused with a reason", () => {
  assert.equal(normalizeCode(" k7m-p3q "), "K7MP3Q");
  assert.equal(codeProblem("K7MP3Q"), null);
  assert.match(codeProblem(""), /Type the code/);
  assert.match(codeProblem("K7M"), /6 to 8/);
  assert.match(codeProblem(normalizeCode("K7OP3Q")), /no 0, 1, O, I or L/);
  assert.equal(CODE_ALPHABET.length, 31);
  assert.ok(!/[01OIL]/.test(CODE_ALPHABET));
  assert.equal(spacedCode("K7MP3Q"), "K7M P3Q");
});

test("sources: nothing configured shows the title and length fields with a plain explanation", () => {
  assert.deepEqual(readSources(null), NO_SOURCES);
  assert.deepEqual(searchable(NO_SOURCES), []);
  assert.equal(needsManual(NO_SOURCES, "youtube"), true);
  assert.match(manualExplanation(NO_SOURCES), /not connected to Spotify or YouTube/);
  const spotifyOnly = readSources({ spotify: { resolve: true, search: true }, youtube: { resolve: false, search: false } });
  assert.deepEqual(searchable(spotifyOnly), ["spotify"]);
  assert.equal(needsManual(spotifyOnly, "spotify"), false);
  assert.equal(needsManual(spotifyOnly, "youtube"), true);
  assert.match(manualExplanation(spotifyOnly), /^YouTube links need/);
  const both = readSources({ spotify: { resolve: true }, youtube: { resolve: true } });
  assert.equal(manualExplanation(both), "");
});

test("sources: search results of either server version read the same; short links get one message", () => {
  const now = readResult({ service: "spotify", title: "Dreams", artist: "Fleetwood Mac", duration_ms: 257_000, url: "u", artwork_url: "https://i.scdn.co/image/a" });
  assert.deepEqual(now, { service: "spotify", title: "Dreams", artist: "Fleetwood Mac", durationMs: 257_000, url: "u", artwork: "https://i.scdn.co/image/a" });
  const before = readResult({ service: "spotify", title: "Dreams – Fleetwood Mac", duration: 257, url: "u", artwork_url: "javascript:x" });
  assert.equal(before.durationMs, 257_000);
  assert.deepEqual([before.title, before.artist], ["Dreams", "Fleetwood Mac"], "the older servers' \"Song – Artists\"");
  assert.equal(before.artwork, null, "only https artwork");
  assert.equal(guessService("https://spotify.link/aBcD1234"), "spotify");
  assert.match(addErrorText("short_link_unresolved", "x"), /spotify\.link short link could not be opened/);
  assert.equal(addErrorText("invalid_link", "Not a link."), "Not a link.");
});

test("commands: ids are UUID v4, also without crypto.randomUUID (plain http on a LAN address)", () => {
  const pattern = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  assert.match(commandId(), pattern);
  const insecure = { getRandomValues: (bytes) => bytes.fill(255) };
  assert.match(commandId(insecure), pattern);
  assert.notEqual(commandId(), commandId());
});

test("commands: unanswered ones are resent after a reconnect, too old ones are given up", () => {
  const pending = new Map([
    ["a", { sentAt: 1000 }],
    ["b", { sentAt: 1000 + RESEND_WINDOW_MS }],
  ]);
  assert.deepEqual(reconcile(pending, 2000 + RESEND_WINDOW_MS), { resend: ["b"], expired: ["a"] });
  assert.deepEqual(reconcile(new Map(), 0), { resend: [], expired: [] });
});

test("format: chat times in the phone's zone, chat keys, artwork of a track", () => {
  const at = "2026-12-02T21:04:05.123Z";
  const local = new Date(at);
  assert.equal(timeOfDay(at), `${String(local.getHours()).padStart(2, "0")}:${String(local.getMinutes()).padStart(2, "0")}`);
  assert.equal(timeOfDay(null), "");
  assert.equal(timeOfDay("nonsense"), "");
  assert.equal(chatKey({ kind: "chat", user_id: "u", at, text: "hi" }), `chat|u|${at}|hi`);
  assert.equal(artworkUrl({ service: "spotify", url: "x", artwork_url: "https://i.scdn.co/image/1" }), "https://i.scdn.co/image/1");
  assert.equal(artworkUrl({ service: "youtube", url: "https://www.youtube.com/watch?v=ZJ0U8rsBlGw", artwork_url: null }), "https://i.ytimg.com/vi/ZJ0U8rsBlGw/hqdefault.jpg");
  assert.equal(artworkUrl({ service: "spotify", url: "https://open.spotify.com/track/x" }), null);
});

test("format: the start page names the LAN address only to a browser on a loopback one", () => {
  const addresses = ["http://192.168.1.20:8000", "http://localhost:8000", "http://127.0.0.1:8000"];
  assert.equal(phoneAddress(addresses, "http://localhost:8000"), "http://192.168.1.20:8000");
  assert.equal(phoneAddress(addresses, "http://127.0.0.1:8000"), "http://192.168.1.20:8000");
  assert.equal(phoneAddress(addresses, "http://192.168.1.20:8000"), null);
  assert.equal(phoneAddress(["http://127.0.0.1:8000"], "http://127.0.0.1:8000"), null);
});
