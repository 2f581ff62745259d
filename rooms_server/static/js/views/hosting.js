// The hosts' "When the host is away" settings (in Room settings): how long the host may be away
// before someone takes over (off, 1 to 10 minutes), whether a member may when no co-host is here,
// and what happens when the host comes back. Each control sends PATCH /hosting with its own field
// alone; the controls show the room's hosting (snapshot, hosting_changed), so they follow the
// other hosts' changes and fall back when a change is refused.

import { api, errorMessage } from "../api.js";
import { $, h } from "../dom.js";

const GRACE_WORDS = (s) => (s === 0 ? "Off" : s % 60 === 0 ? `${s / 60} ${s === 60 ? "minute" : "minutes"}` : `${s} s`);

export class HostingCard {
  constructor({ groupId, token, getRoom }) {
    this.path = `/api/groups/${encodeURIComponent(groupId)}/hosting`;
    this.token = token;
    this.getRoom = getRoom;
    $("hosting-grace").addEventListener("change", () => this._patch({ grace_s: Number($("hosting-grace").value) }));
    $("hosting-members").addEventListener("change", () => this._patch({ failover_to_members: $("hosting-members").checked }));
    for (const radio of document.querySelectorAll("input[name=hosting-return]")) {
      radio.addEventListener("change", () => radio.checked && this._patch({ on_return: radio.value }));
    }
  }

  render(room) {
    const hosting = room.hosting;
    const grace = $("hosting-grace");
    // A time the menu does not offer (set through the API) is shown as it is.
    if (![...grace.options].some((o) => Number(o.value) === hosting.grace_s)) {
      grace.append(h("option", { value: String(hosting.grace_s) }, GRACE_WORDS(hosting.grace_s)));
    }
    grace.value = String(hosting.grace_s);
    const off = hosting.grace_s === 0;
    $("hosting-note").textContent = off
      ? "Nobody takes over while the host is away."
      : "…a co-host who is here becomes the host.";
    $("hosting-members").checked = Boolean(hosting.failover_to_members);
    $("hosting-members").disabled = off;
    for (const radio of document.querySelectorAll("input[name=hosting-return]")) {
      radio.checked = radio.value === hosting.on_return;
      radio.disabled = off;
    }
  }

  async _patch(body) {
    $("hosting-error").textContent = "";
    $("hosting-status").textContent = "Saving…";
    try {
      const result = await api("PATCH", this.path, { body, token: this.token });
      if (result.status === 200) {
        $("hosting-status").textContent = "Saved.";
        return;
      }
      $("hosting-status").textContent = "";
      $("hosting-error").textContent = errorMessage(result, "Could not change what happens when the host is away.");
    } catch {
      $("hosting-status").textContent = "";
      $("hosting-error").textContent = "No connection to the server.";
    }
    this.render(this.getRoom()); // back to the room's state
  }
}
