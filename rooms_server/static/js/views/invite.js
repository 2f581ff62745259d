// The invite card: the room's QR code, short code and link; hosts create (with a lifetime), rotate
// and revoke the invite. Everyone's card follows the room's invite live (`invite_changed`).

import { api, errorMessage } from "../api.js";
import { spacedCode } from "../codes.js";
import { $, show } from "../dom.js";
import { safeHref } from "../format.js";
import { usageWords } from "../roles.js";

/** "Lets people in as listeners · 3 of 10 used", or "" for an unlimited member invite (the usual). */
export function inviteTerms(invite) {
  if (!invite) return "";
  const limited = invite.max_uses !== null && invite.max_uses !== undefined;
  const role = invite.role === "listener" ? "Lets people in as listeners" : invite.role === "admin" ? "Lets people in as co-hosts" : "";
  return [role, limited ? usageWords(invite) : ""].filter(Boolean).join(" · ");
}

/** The QR image of an invite, fetched with the bearer token (an <img> cannot send it) as a blob URL. */
export async function inviteQrBlob(groupId, token, invite, size = 6) {
  const version = encodeURIComponent(String(invite.token || invite.code || "").slice(0, 8));
  const response = await fetch(`/api/groups/${encodeURIComponent(groupId)}/invite/qr.png?size=${size}&v=${version}`, {
    headers: { Authorization: `Bearer ${token}` },
    cache: "no-store",
  });
  if (!response.ok) throw new Error(String(response.status));
  return URL.createObjectURL(await response.blob());
}

/** An invite past its expiry is no invite (the server sends nothing when one merely expires). */
export function liveInvite(invite) {
  if (!invite) return null;
  const expires = new Date(invite.expired_at);
  return Number.isNaN(expires.getTime()) || expires > new Date() ? invite : null;
}

/** Calls `then` once the invite has expired (timers cap at a day: checked again then). */
export function onExpiry(invite, then) {
  if (!invite) return null;
  const left = new Date(invite.expired_at) - new Date();
  if (Number.isNaN(left)) return null;
  const wait = Math.min(Math.max(left, 0) + 500, 86_400_000);
  return setTimeout(() => (liveInvite(invite) ? onExpiry(invite, then) : then()), wait);
}

export class InviteCard {
  constructor({ groupId, token, isHost, isListener = () => false }) {
    this.groupId = groupId;
    this.token = token;
    this.isHost = isHost;
    this.isListener = isListener;
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
    await this.show(result.status === 200 && result.data ? result.data : null); // 403 for a listener: nothing
  }

  async show(given) {
    this.given = given;
    // A listener never sees an invite that lets people in as more than a listener (the server's 403).
    const hidden = given && this.isListener() && given.role !== "listener";
    const data = hidden ? null : liveInvite(given);
    clearTimeout(this.expiryTimer);
    this.expiryTimer = onExpiry(data, () => this.show(null));
    const terms = inviteTerms(data);
    $("invite-terms").textContent = terms;
    show($("invite-terms"), terms !== "");
    if (data && this.invite && data.url === this.invite.url && data.expired_at === this.invite.expired_at && this.qrUrl) {
      this.invite = data;
      return; // the same invite again (a snapshot after a reconnect, a use counted): keep the image
    }
    this.invite = data;
    $("invite-error").textContent = "";
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
    show($("invite-code-line"), Boolean(data.code));
    $("invite-code").textContent = spacedCode(data.code || "");
    $("invite-host").textContent = safeHref(data.url) ? new URL(data.url).host : location.host;
    const link = $("invite-url");
    link.textContent = data.url;
    link.href = safeHref(data.url) || "#";
    const expires = new Date(data.expired_at);
    $("invite-expiry").textContent = Number.isNaN(expires.getTime())
      ? ""
      : `Valid until ${expires.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`;
    try {
      const url = await inviteQrBlob(this.groupId, this.token, data);
      if (this.invite !== data) return URL.revokeObjectURL(url); // replaced meanwhile
      if (this.qrUrl) URL.revokeObjectURL(this.qrUrl);
      this.qrUrl = url;
      $("invite-qr").src = this.qrUrl;
    } catch {
      $("invite-error").textContent = "Could not load the QR image; the link above works too.";
    }
  }

  async _rotate() {
    $("invite-error").textContent = "";
    try {
      const body = { lifetime_s: Number($("invite-lifetime").value), role: $("invite-role").value };
      const uses = $("invite-max-uses").value.trim();
      if (uses !== "") {
        const n = Number(uses);
        if (!Number.isInteger(n) || n < 1 || n > 10000) {
          $("invite-error").textContent = "Max uses: a whole number from 1 to 10000, or empty for no limit.";
          return;
        }
        body.max_uses = n;
      }
      const result = await api("POST", this.path, { body, token: this.token });
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
