// Adding a song: search (when the server can search), or a pasted link that the server looks up by
// itself; the title and length fields only where the server cannot look the link up.

import { api, errorMessage } from "../api.js";
import { $, h, show } from "../dom.js";
import { formatTime, guessService, parseDuration } from "../format.js";
import { refusalText } from "../queue_rules.js";
import { NO_SOURCES, addErrorText, manualExplanation, needsManual, readResult, readSources, searchable } from "../sources.js";

/** The words for a refused add: the room's queue rules (with its numbers), else the service's. */
export const addFailureText = (room, code, message) => refusalText(code, room.queue) ?? addErrorText(code, message);

export class AddCard {
  constructor({ send, token, getRoom }) {
    this.send = send;
    this.getRoom = getRoom;
    this.token = token;
    this.sources = NO_SOURCES;
    $("add-url").addEventListener("input", () => this._onLink());
    // A pasted link the server can look up is added at once: no second tap.
    $("add-url").addEventListener("paste", () => setTimeout(() => this._onPaste(), 0));
    $("add-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this._addLink();
    });
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this._search();
    });
  }

  async load() {
    try {
      const result = await api("GET", "/api/sources", { token: this.token }); // with the caller's own connections
      this.sources = readSources(result.status === 200 ? result.data : null);
    } catch {
      this.sources = NO_SOURCES;
    }
    const canSearch = searchable(this.sources).length > 0;
    show($("search-form"), canSearch);
    $("add-url-label").textContent = canSearch ? "Or paste a link" : "Link";
    this._onLink();
  }

  _onLink() {
    const service = guessService($("add-url").value);
    if (service) $("add-service").value = service;
    // Manual fields: always when the server looks nothing up; else only for a link it cannot.
    const nothing = !this.sources.spotify.resolve && !this.sources.youtube.resolve;
    const manual = nothing || (service !== null && needsManual(this.sources, service));
    show($("manual-fields"), manual);
    const explanation = manualExplanation(this.sources);
    $("add-explain").textContent = explanation;
    show($("add-explain"), manual && explanation !== "");
  }

  _onPaste() {
    const service = guessService($("add-url").value.trim());
    if (service && !needsManual(this.sources, service)) this._addLink();
  }

  _addLink() {
    const error = $("add-error");
    error.textContent = "";
    const url = $("add-url").value.trim();
    if (!url) {
      error.textContent = "Paste a link to a song.";
      return $("add-url").focus();
    }
    const service = guessService(url) || $("add-service").value;
    const frame = { type: "add", service, url };
    if (!$("manual-fields").hidden) {
      const title = $("add-title").value.trim();
      const duration = parseDuration($("add-duration").value);
      if (Number.isNaN(duration) || duration === 0) {
        error.textContent = "Write the length as minutes:seconds, e.g. 3:30.";
        return $("add-duration").focus();
      }
      if (title) frame.title = title;
      if (duration !== null) frame.duration = duration;
    }
    this._send(frame, () => {
      $("add-form").reset();
      this._onLink();
    });
  }

  _send(frame, done, failed) {
    $("add-status").textContent = "Adding…";
    this.send(frame, {
      onAck: () => {
        $("add-status").textContent = "Added to the queue.";
        setTimeout(() => ($("add-status").textContent = ""), 3000);
        if (done) done();
      },
      onError: (message, code) => {
        $("add-status").textContent = "";
        $("add-error").textContent = addFailureText(this.getRoom(), code, message);
        if (failed) failed();
        if (code === "metadata_required" || code === "service_not_configured") {
          show($("manual-fields"), true); // the server could not look it up after all: ask
        }
      },
    });
  }

  async _search() {
    const q = $("search-q").value.trim();
    const status = $("search-status");
    $("add-error").textContent = "";
    if (!q) return $("search-q").focus();
    status.textContent = "Searching…";
    const found = [];
    let failure = "";
    for (const service of searchable(this.sources)) {
      try {
        const result = await api("GET", `/api/services/${service}/search?q=${encodeURIComponent(q)}&limit=8`, { token: this.token });
        if (result.status === 200 && result.data) found.push(...(result.data.items || []).map(readResult));
        else failure = errorMessage(result, "The search did not work just now.");
      } catch {
        failure = "No connection to the server.";
      }
    }
    $("search-results").replaceChildren(...found.map((item) => this._resultItem(item)));
    status.textContent = found.length ? `${found.length} songs found.` : failure || `Nothing found for “${q}”.`;
  }

  _resultItem(item) {
    // Its name is what it shows, "Add" first: "Add Dreams Fleetwood Mac · 4:17".
    const button = h(
      "button",
      { type: "button", class: "result" },
      h("span", { class: "visually-hidden" }, "Add "),
      item.artwork ? h("img", { class: "artwork small-art", src: item.artwork, alt: "" }) : h("span", { class: "artwork small-art placeholder-art", "aria-hidden": "true" }, "♪"),
      h(
        "span",
        { class: "result-text" },
        h("span", { class: "result-title" }, item.title),
        h("span", { class: "muted small" }, [item.artist, item.durationMs !== null ? formatTime(item.durationMs) : null].filter(Boolean).join(" · ")),
      ),
      h("span", { class: "result-add", "aria-hidden": "true" }, "+"),
    );
    button.addEventListener("click", () => {
      button.disabled = true;
      this._send({ type: "add", service: item.service, url: item.url }, () => {
        button.classList.add("added");
        button.lastChild.textContent = "✓";
      }, () => (button.disabled = false));
    });
    return h("li", {}, button);
  }
}
