// What this server can look up (GET /api/sources), and what the add card should show for it.
// Pure: the card (views/add.js) does the DOM.

export const NO_SOURCES = Object.freeze({
  spotify: { resolve: false, search: false },
  youtube: { resolve: false, search: false },
});

/** The server's answer, made safe to read (a server without the endpoint: nothing configured). */
export function readSources(data) {
  const one = (s) => ({ resolve: Boolean(s && s.resolve), search: Boolean(s && s.search) });
  if (!data || typeof data !== "object") return NO_SOURCES;
  return { spotify: one(data.spotify), youtube: one(data.youtube) };
}

/** The services whose search the card offers, in order. */
export const searchable = (sources) => ["spotify", "youtube"].filter((s) => sources[s].search);

/** Whether a link to `service` needs a title and a length typed by hand. */
export const needsManual = (sources, service) => !service || !sources[service] || !sources[service].resolve;

/** The plain sentence over the manual fields, or "" when the server looks every link up. */
export function manualExplanation(sources) {
  const spotify = sources.spotify.resolve;
  const youtube = sources.youtube.resolve;
  if (spotify && youtube) return "";
  if (!spotify && !youtube) {
    return "This server is not connected to Spotify or YouTube, so it cannot look songs up: paste the link, then type the title and the length.";
  }
  const missing = spotify ? "YouTube" : "Spotify";
  return `${missing} links need their title and length typed in (this server cannot look them up); ${spotify ? "Spotify" : "YouTube"} links fill in by themselves.`;
}

/** A search result in one shape, whichever version of the server answered. */
export function readResult(item) {
  const durationMs = typeof item.duration_ms === "number" ? item.duration_ms : typeof item.duration === "number" ? item.duration * 1000 : null;
  let title = String(item.title || "");
  let artist = typeof item.artist === "string" ? item.artist : "";
  if (!artist && title.includes(" – ")) [title, artist] = [title.split(" – ")[0], title.split(" – ").slice(1).join(" – ")]; // "Song – Artists"
  return {
    service: item.service || "spotify",
    title,
    artist,
    durationMs,
    url: String(item.url || ""),
    artwork: typeof item.artwork_url === "string" && /^https:\/\//.test(item.artwork_url) ? item.artwork_url : null,
  };
}

/** The words for an add that failed, by the server's error code. */
export function addErrorText(code, message) {
  if (code === "short_link_unresolved") {
    return "That spotify.link short link could not be opened. In Spotify, tap Share → Copy Song Link and paste that link instead.";
  }
  return message || "Could not add this song.";
}
