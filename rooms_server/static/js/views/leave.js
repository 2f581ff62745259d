// "Leave room", for everyone. The host first picks whom to hand the room to (the co-hosts first,
// then the members in the order they joined; the first is preselected); everyone else confirms.
// After leaving, the start page.

import { api, errorMessage } from "../api.js";
import { $, h, show } from "../dom.js";
import { handoverCandidates, leaveNeedsHandover } from "../roles.js";
import { roleLabel } from "../reducer.js";

export class LeaveCard {
  /** onLeaving(true) before the request (the server closes this page's socket as it answers: no
   * "removed from the room" then), onLeaving(false) when it failed; onLeft() after it. */
  constructor({ groupId, token, getRoom, onLeaving, onLeft }) {
    this.path = `/api/groups/${encodeURIComponent(groupId)}/leave`;
    this.token = token;
    this.getRoom = getRoom;
    this.onLeaving = onLeaving;
    this.onLeft = onLeft;
    $("btn-leave").addEventListener("click", () => this.open());
    $("btn-leave-no").addEventListener("click", () => this.close());
    $("leave-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this._leave();
    });
  }

  open() {
    const room = this.getRoom();
    const handover = leaveNeedsHandover(room);
    show($("leave-handover"), handover);
    $("leave-error").textContent = "";
    if (handover) {
      const options = handoverCandidates(room).map((m) => {
        const label = roleLabel(room, m);
        return h("option", { value: m.user_id }, label ? `${m.name} (${label.toLowerCase()})` : m.name);
      });
      $("leave-to").replaceChildren(...options);
      $("leave-to").selectedIndex = 0;
      $("leave-question").textContent = "You're the host: the room stays with them when you leave.";
    } else {
      $("leave-question").textContent = "Leave this room? You can come back with an invite.";
    }
    $("leave-dialog").showModal();
    (handover ? $("leave-to") : $("btn-leave-no")).focus();
  }

  close() {
    $("leave-dialog").close();
    $("btn-leave").focus();
  }

  async _leave() {
    const body = $("leave-handover").hidden ? {} : { handover_to: $("leave-to").value };
    $("btn-leave-yes").disabled = true;
    $("leave-error").textContent = "";
    this.onLeaving(true);
    try {
      const result = await api("POST", this.path, { body, token: this.token });
      if (result.status === 204 || result.status === 200) {
        this.onLeft();
        return;
      }
      this.onLeaving(false);
      $("leave-error").textContent =
        result.status === 409 && result.data && result.data.error && result.data.error.code === "last_admin"
          ? "You're the only one here: delete the room instead (Room settings), or invite someone to hand it to."
          : errorMessage(result, "Could not leave the room.");
    } catch {
      this.onLeaving(false);
      $("leave-error").textContent = "No connection to the server.";
    } finally {
      $("btn-leave-yes").disabled = false;
    }
  }
}
