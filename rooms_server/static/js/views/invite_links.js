// The hosts' "Invite links" card: links besides the QR invite, each with its role (listener, member,
// co-host), a number of uses (or none) and an end; the list with Copy and Revoke. The list is
// fetched again after every change here and on `invite_links_changed` (another host's change).

import { api, errorMessage } from "../api.js";
import { $, h, show } from "../dom.js";
import { linkRow, newLinkBody } from "../roles.js";

export class InviteLinksCard {
  constructor({ groupId, token, now }) {
    this.path = `/api/groups/${encodeURIComponent(groupId)}/invites`;
    this.token = token;
    this.now = now; // the server's time (ms), for "ends in 5 h"
    this.links = [];
    this.loading = null;
    this.again = false;
    this.active = false;
    $("link-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this._create();
    });
  }

  /** Shown for hosts only: fetches the list when a host's page opens (or someone becomes one). */
  setActive(active) {
    if (active === this.active) return;
    this.active = active;
    if (active) this.refresh();
    else {
      this.links = [];
      $("invite-links").replaceChildren();
    }
  }

  refresh() {
    if (!this.active) return;
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = this._load().finally(() => {
      this.loading = null;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    });
  }

  async _load() {
    let result;
    try {
      result = await api("GET", this.path, { token: this.token });
    } catch {
      $("invite-links-error").textContent = "No connection to the server.";
      return;
    }
    if (result.status === 403) return this.setActive(false); // no longer a host
    if (result.status !== 200 || !result.data) {
      $("invite-links-error").textContent = errorMessage(result, "Could not load the invite links.");
      return;
    }
    $("invite-links-error").textContent = "";
    this.links = Array.isArray(result.data.items) ? result.data.items : [];
    this.render();
  }

  render() {
    const now = this.now();
    $("invite-links").replaceChildren(...this.links.map((link) => this._item(linkRow(link, now))));
    show($("invite-links-empty"), this.links.length === 0);
  }

  _item(row) {
    const copy = h("button", { type: "button", class: "mini wide", "aria-label": `Copy ${row.name}` }, "Copy");
    const url = h("a", { class: "link-url", href: row.url, rel: "noreferrer" }, row.url);
    copy.addEventListener("click", () => this._copy(row, copy, url));
    const revoke = h("button", { type: "button", class: "mini wide danger", "aria-label": `Revoke ${row.name}` }, "Revoke");
    revoke.addEventListener("click", () => this._revoke(row, revoke));
    return h(
      "li",
      { class: `invite-link${row.usedUp ? " used-up" : ""}`, "data-link": row.id },
      h("span", { class: "link-name" }, row.name),
      h("span", { class: "link-meta" }, row.meta),
      h("span", { class: "link-row" }, url, h("span", { class: "link-actions" }, copy, revoke)),
    );
  }

  async _create() {
    const form = $("link-form");
    const role = form.querySelector("input[name=link-role]:checked");
    const made = newLinkBody({
      role: role ? role.value : "member",
      maxUses: $("link-max-uses").value,
      lifetimeS: $("link-lifetime").value,
      label: $("link-label").value,
    });
    $("invite-links-error").textContent = made.error || "";
    if (made.error) return;
    $("btn-link-create").disabled = true;
    try {
      const result = await api("POST", this.path, { body: made.body, token: this.token });
      if (result.status === 201 || result.status === 200) {
        $("link-label").value = "";
        $("link-max-uses").value = "";
        $("invite-links-status").textContent = "Link created: copy it from the list below.";
        this.refresh();
      } else {
        $("invite-links-error").textContent = errorMessage(result, "Could not create the link.");
      }
    } catch {
      $("invite-links-error").textContent = "No connection to the server.";
    } finally {
      $("btn-link-create").disabled = false;
    }
  }

  async _revoke(row, button) {
    button.disabled = true;
    $("invite-links-error").textContent = "";
    try {
      const result = await api("DELETE", `${this.path}/${encodeURIComponent(row.id)}`, { token: this.token });
      if (result.status === 204 || result.status === 404) {
        $("invite-links-status").textContent = `Revoked ${row.name}.`;
        this.links = this.links.filter((l) => l.id !== row.id);
        this.render();
        this.refresh();
      } else {
        $("invite-links-error").textContent = errorMessage(result, "Could not revoke the link.");
        button.disabled = false;
      }
    } catch {
      $("invite-links-error").textContent = "No connection to the server.";
      button.disabled = false;
    }
  }

  async _copy(row, button, url) {
    try {
      await navigator.clipboard.writeText(row.url);
      button.textContent = "Copied";
    } catch {
      // No clipboard on plain http: select the link so the phone offers to copy it.
      const range = document.createRange();
      range.selectNodeContents(url);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "Selected";
    }
    setTimeout(() => (button.textContent = "Copy"), 2000);
  }
}
