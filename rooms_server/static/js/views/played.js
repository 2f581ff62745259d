// The "Played" card: what the room played, newest first (GET /api/groups/{id}/history), reloaded
// after every track change, older pages on "Show more", and "Add again" for whoever may add.

import { api, errorMessage } from "../api.js";
import { $, h, show } from "../dom.js";
import { emptyHistory, historyRow, mergeHistory } from "../history.js";
import { mayAdd } from "../queue_rules.js";
import { addFailureText } from "./add.js";

const PAGE = 20;

export class PlayedCard {
  constructor({ groupId, token, send, getRoom, now }) {
    this.path = `/api/groups/${encodeURIComponent(groupId)}/history`;
    this.token = token;
    this.send = send;
    this.getRoom = getRoom;
    this.now = now; // the server's time, for "5 min ago"
    this.history = emptyHistory();
    this.loading = null; // the request in flight: one at a time, a refresh waits for it
    this.again = false; // a refresh was asked for while one was in flight
    this.shown = null; // {history, mayAdd} last drawn
    $("btn-played-more").addEventListener("click", () => this._load({ older: true }));
  }

  /** The newest page again (on opening and after each track change). */
  refresh() {
    if (this.loading) {
      this.again = true;
      return;
    }
    this._load({ older: false });
  }

  render(room) {
    const may = mayAdd(room);
    if (this.shown && this.shown.history === this.history && this.shown.mayAdd === may) return;
    this.shown = { history: this.history, mayAdd: may };
    const now = this.now();
    $("played").replaceChildren(...this.history.entries.map((entry) => this._item(historyRow(entry, now), may)));
    show($("played-empty"), this.history.loaded && this.history.entries.length === 0);
    show($("btn-played-more"), this.history.nextBefore !== null);
  }

  async _load({ older }) {
    const query = older && this.history.nextBefore !== null ? `&before=${this.history.nextBefore}` : "";
    $("btn-played-more").disabled = true;
    this.loading = (async () => {
      try {
        const result = await api("GET", `${this.path}?limit=${PAGE}${query}`, { token: this.token });
        if (result.status === 200 && result.data) {
          this.history = mergeHistory(this.history, result.data, { older });
          $("played-error").textContent = "";
        } else {
          $("played-error").textContent = errorMessage(result, "Could not load what played.");
        }
      } catch {
        $("played-error").textContent = "No connection to the server.";
      }
    })();
    await this.loading;
    this.loading = null;
    $("btn-played-more").disabled = false;
    this.render(this.getRoom());
    if (this.again) {
      this.again = false;
      this.refresh();
    }
  }

  _item(row, may) {
    const label = row.title.length > 60 ? `${row.title.slice(0, 60)}…` : row.title;
    const button = may
      ? h("button", { type: "button", class: "mini wide" }, "Add again", h("span", { class: "visually-hidden" }, ` (${label})`))
      : null;
    if (button) button.addEventListener("click", () => this._addAgain(row, button));
    return h(
      "li",
      { class: "track played-entry", "data-entry-id": row.id },
      h(
        "span",
        { class: "track-text" },
        h("span", { class: "track-title" }, row.title),
        h("span", { class: "track-meta" }, h("span", { class: "added-by" }, row.by), ` · ${row.outcome}${row.when ? ` · ${row.when}` : ""}`),
      ),
      button ? h("span", { class: "track-actions" }, button) : null,
    );
  }

  _addAgain(row, button) {
    button.disabled = true;
    $("played-error").textContent = "";
    $("played-status").textContent = "Adding…";
    this.send(row.add, {
      onAck: () => {
        button.disabled = false;
        $("played-status").textContent = `Added ${row.title} to the queue.`;
      },
      onError: (message, code) => {
        button.disabled = false;
        $("played-status").textContent = "";
        $("played-error").textContent = addFailureText(this.getRoom(), code, message);
      },
    });
  }
}
