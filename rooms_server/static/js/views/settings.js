// The host's room settings: rename, public or private, and delete (asked twice). The room's own
// events (group_changed, group_deleted) update every page, this one included.

import { api, errorMessage } from "../api.js";
import { $, show } from "../dom.js";

export class SettingsCard {
  constructor({ groupId, token }) {
    this.path = `/api/groups/${encodeURIComponent(groupId)}`;
    this.token = token;
    this.shownName = null;
    $("rename-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const name = $("settings-name").value.trim();
      if (!name) return this._error("Give the room a name.");
      this._patch({ name }, "Renamed.");
    });
    $("settings-public").addEventListener("change", () => {
      const on = $("settings-public").checked;
      this._patch({ is_public: on }, on ? "The room is listed publicly." : "The room is private: only invites and its code let people in.");
    });
    $("btn-delete").addEventListener("click", () => {
      show($("delete-confirm"), true);
      $("btn-delete-no").focus();
    });
    $("btn-delete-no").addEventListener("click", () => {
      show($("delete-confirm"), false);
      $("btn-delete").focus();
    });
    $("btn-delete-yes").addEventListener("click", () => this._delete());
  }

  render(room) {
    if (!room.group) return;
    // Never overwrite what the host is typing; follow renames made elsewhere.
    if (document.activeElement !== $("settings-name") && this.shownName !== room.group.name) {
      $("settings-name").value = room.group.name;
      this.shownName = room.group.name;
    }
    $("settings-public").checked = Boolean(room.group.is_public);
  }

  _error(message) {
    $("settings-error").textContent = message;
    $("settings-status").textContent = "";
  }

  async _patch(body, done) {
    $("settings-error").textContent = "";
    try {
      const result = await api("PATCH", this.path, { body, token: this.token });
      if (result.status === 200) $("settings-status").textContent = done;
      else if (result.status === 409) this._error("Another room already has this name. Pick another one.");
      else this._error(errorMessage(result, "Could not change the settings."));
    } catch {
      this._error("No connection to the server.");
    }
  }

  async _delete() {
    $("btn-delete-yes").disabled = true;
    try {
      const result = await api("DELETE", this.path, { token: this.token });
      if (result.status !== 204) this._error(errorMessage(result, "Could not delete the room."));
      // 204: the room's group_deleted event ends this page like every other one.
    } catch {
      this._error("No connection to the server.");
    } finally {
      $("btn-delete-yes").disabled = false;
    }
  }
}
