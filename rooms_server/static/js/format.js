// Small pure helpers for the pages: times, lengths, links, titles.

export function formatTime(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

/** "3:30", "1:02:03" or "210" → seconds; null when blank; NaN when not a length. */
export function parseDuration(text) {
  const value = text.trim();
  if (!value) return null;
  if (!/^\d+(:\d{1,2}){0,2}$/.test(value)) return Number.NaN;
  return value.split(":").reduce((acc, part) => acc * 60 + Number(part), 0);
}

export function guessService(url) {
  if (/spotify\.com|spotify\.link|^spotify:/i.test(url)) return "spotify";
  if (/youtu\.?be/i.test(url)) return "youtube";
  return null;
}

export function safeHref(url) {
  return /^https?:\/\//i.test(url) ? url : null;
}

export const serviceName = (service) => (service === "spotify" ? "Spotify" : "YouTube");

/** "Artist – Song" titles (the server's Spotify titles are "Song – Artists"): {title, artist}. */
export function splitTitle(track) {
  const parts = track.title.split(" – ");
  if (parts.length < 2) return { title: track.title, artist: "" };
  if (track.service === "spotify") return { title: parts[0], artist: parts.slice(1).join(" – ") };
  return { title: parts.slice(1).join(" – "), artist: parts[0] };
}

/** The id at the end of a stored canonical URL (watch?v=<id> or /track/<id>). */
export function mediaId(track) {
  if (track.service === "youtube") {
    const match = /[?&]v=([A-Za-z0-9_-]{11})/.exec(track.url);
    return match ? match[1] : null;
  }
  const match = /\/track\/([A-Za-z0-9]{22})/.exec(track.url);
  return match ? match[1] : null;
}

/** The track's own artwork (the server stores it), else YouTube's thumbnail; null when none. */
export function artworkUrl(track) {
  if (!track) return null;
  if (typeof track.artwork_url === "string" && /^https:\/\//.test(track.artwork_url)) return track.artwork_url;
  const id = track.service === "youtube" ? mediaId(track) : null;
  return id ? `https://i.ytimg.com/vi/${id}/hqdefault.jpg` : null;
}

/** Artwork the phone can show on its lock screen (Media Session). */
export function artworkOf(track) {
  if (track && typeof track.artwork_url === "string" && /^https:\/\//.test(track.artwork_url)) {
    return [{ src: track.artwork_url }];
  }
  const id = track.service === "youtube" ? mediaId(track) : null;
  return id ? [{ src: `https://i.ytimg.com/vi/${id}/hqdefault.jpg`, sizes: "480x360", type: "image/jpeg" }] : [];
}

/** "2026-12-02T21:04:05.123Z" → "21:04" in this phone's time zone; "" when there is no time. */
export function timeOfDay(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  return `${String(at.getHours()).padStart(2, "0")}:${String(at.getMinutes()).padStart(2, "0")}`;
}

/** A chat line's identity across a snapshot (the server's copy) and the live events this page saw. */
export const chatKey = (entry) => `${entry.kind}|${entry.user_id}|${entry.at || ""}|${entry.text}`;

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/i;

/** The address phones on the Wi-Fi should open: this page's own unless it is a loopback one. */
export function phoneAddress(addresses, origin) {
  const host = (url) => {
    try {
      return new URL(url).host;
    } catch {
      return "";
    }
  };
  if (!LOOPBACK.test(host(origin))) return null; // phones can open what this browser opened
  return (addresses || []).find((a) => host(a) && !LOOPBACK.test(host(a))) || null;
}
