// The invite card: the room's QR code and link; hosts create, rotate and revoke the invite.

import { api, errorMessage } from "../api.js";
import { $, show } from "../dom.js";
import { safeHref } from "../format.js";

export class InviteCard {
  constructor({ groupId, token, isHost }) {
    this.groupId = groupId;
    this.token = token;
    this.isHost = isHost;
    this.invite = null;
    this.qrUrl = null;
    $("btn-rotate").addEventListener("click", () => this._rotate());
    $("btn-revoke").addEventListener("click", () => this._revoke());
    $("btn-copy").addEventListener("click", () => this._copy());
  }

  get path() {
    return `/api/groups/${encodeURIComponent(this.groupId)}/invite`;
  }

  async load() {
    let result;
    try {
      result = await api("GET", this.path, { token: this.token });
    } catch {
      return;
    }
    await this.show(result.status === 200 && result.data ? result.data : null);
  }

  async show(data) {
    this.invite = data;
    const host = this.isHost();
    // Members see the code when there is one; hosts always see the card to create or rotate it.
    show($("invite-card"), host || data !== null);
    show($("invite-show"), data !== null);
    show($("invite-none"), data === null);
    show($("btn-copy"), data !== null);
    show($("btn-revoke"), host && data !== null);
    $("btn-rotate").textContent = data ? "New invite" : "Create invite";
    if (!data) {
      if (this.qrUrl) URL.revokeObjectURL(this.qrUrl);
      this.qrUrl = null;
      $("invite-qr").removeAttribute("src");
      return;
    }
    const link = $("invite-url");
    link.textContent = data.url;
    link.href = safeHref(data.url) || "#";
    const expires = new Date(data.expired_at);
    $("invite-expiry").textContent = Number.isNaN(expires.getTime())
      ? ""
      : `Valid until ${expires.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`;
    try {
      const response = await fetch(`${this.path}/qr.png?size=6`, {
        headers: { Authorization: `Bearer ${this.token}` },
        cache: "no-store",
      });
      if (!response.ok) throw new Error(String(response.status));
      const blob = await response.blob();
      if (this.invite !== data) return; // replaced meanwhile
      if (this.qrUrl) URL.revokeObjectURL(this.qrUrl);
      this.qrUrl = URL.createObjectURL(blob);
      $("invite-qr").src = this.qrUrl;
    } catch {
      $("invite-error").textContent = "Could not load the QR image; the link above works too.";
    }
  }

  async _rotate() {
    $("invite-error").textContent = "";
    try {
      const result = await api("POST", this.path, { body: {}, token: this.token });
      if (result.status === 201 || result.status === 200) await this.show(result.data);
      else $("invite-error").textContent = errorMessage(result, "Could not create an invite.");
    } catch {
      $("invite-error").textContent = "No connection to the server.";
    }
  }

  async _revoke() {
    $("invite-error").textContent = "";
    try {
      const result = await api("DELETE", this.path, { token: this.token });
      if (result.status === 204 || result.status === 404) this.show(null);
      else $("invite-error").textContent = errorMessage(result, "Could not revoke the invite.");
    } catch {
      $("invite-error").textContent = "No connection to the server.";
    }
  }

  async _copy() {
    if (!this.invite) return;
    try {
      await navigator.clipboard.writeText(this.invite.url);
      $("btn-copy").textContent = "Copied";
    } catch {
      // No clipboard on plain http: select the link so the phone offers to copy it.
      const range = document.createRange();
      range.selectNodeContents($("invite-url"));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      $("btn-copy").textContent = "Selected";
    }
    setTimeout(() => ($("btn-copy").textContent = "Copy link"), 2000);
  }
}
