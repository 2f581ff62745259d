import assert from "node:assert/strict";
import { test } from "node:test";

import { artworkOf, formatTime, guessService, mediaId, parseDuration, safeHref, splitTitle } from "../../rooms_server/static/js/format.js";

test("format: times and lengths", () => {
  assert.equal(formatTime(0), "0:00");
  assert.equal(formatTime(61_999), "1:01");
  assert.equal(formatTime(3_723_000), "1:02:03");
  assert.equal(parseDuration(" 3:30 "), 210);
  assert.equal(parseDuration("1:02:03"), 3723);
  assert.equal(parseDuration(""), null);
  assert.ok(Number.isNaN(parseDuration("3 minutes")));
});

test("format: links", () => {
  assert.equal(guessService("https://open.spotify.com/track/x"), "spotify");
  assert.equal(guessService("https://youtu.be/x"), "youtube");
  assert.equal(guessService("https://example.com"), null);
  assert.equal(safeHref("javascript:alert(1)"), null);
  assert.equal(safeHref("https://x.y/"), "https://x.y/");
});

test("format: media ids, titles and artwork of stored tracks", () => {
  const yt = { service: "youtube", title: "Khruangbin – Time (You and I)", url: "https://www.youtube.com/watch?v=ZJ0U8rsBlGw" };
  const sp = { service: "spotify", title: "Digital Love – Daft Punk", url: "https://open.spotify.com/track/2VEZx7NWsZ1D0eJ4uv5Fym" };
  assert.equal(mediaId(yt), "ZJ0U8rsBlGw");
  assert.equal(mediaId(sp), "2VEZx7NWsZ1D0eJ4uv5Fym");
  assert.deepEqual(splitTitle(yt), { title: "Time (You and I)", artist: "Khruangbin" });
  assert.deepEqual(splitTitle(sp), { title: "Digital Love", artist: "Daft Punk" });
  assert.deepEqual(splitTitle({ ...yt, title: "Just a title" }), { title: "Just a title", artist: "" });
  assert.equal(artworkOf(yt)[0].src, "https://i.ytimg.com/vi/ZJ0U8rsBlGw/hqdefault.jpg");
  assert.deepEqual(artworkOf(sp), []);
});
