// The host's "Queue settings" card: order (in order, fair turns), repeat, autoplay and how many
// recent songs it avoids, who adds songs, and the members' three limits (0 = off). Each control
// sends `queue_settings` with its own field alone; the card shows the server's state, so it
// follows what other hosts change (queue_settings_changed) and falls back when a change is refused.

import { $ } from "../dom.js";

const RADIOS = { "queue-mode": "queue_mode", "queue-repeat": "repeat", "queue-who": "who_may_add" };
const NUMBERS = () => [...document.querySelectorAll("#queue-settings-card input[type=number][data-setting]")];

/** A number input's value in the server's unit (minutes → seconds for the longest song). */
export function numberSetting(text, { min, max, unit = 1 }) {
  if (text.trim() === "") return null;
  const value = Number(text);
  if (!Number.isFinite(value)) return null;
  const server = Math.round(value * unit);
  return server >= min * unit && server <= max * unit ? server : null;
}

export class QueueSettingsCard {
  constructor({ send, getRoom }) {
    this.send = send;
    this.getRoom = getRoom;
    for (const [name, setting] of Object.entries(RADIOS)) {
      for (const radio of document.querySelectorAll(`input[name=${name}]`)) {
        radio.addEventListener("change", () => radio.checked && this._change({ [setting]: radio.value }));
      }
    }
    $("qs-autoplay").addEventListener("change", () => this._change({ autoplay: $("qs-autoplay").checked }));
    for (const input of NUMBERS()) input.addEventListener("change", () => this._number(input));
  }

  render(room) {
    const queue = room.queue;
    for (const [name, setting] of Object.entries(RADIOS)) {
      for (const radio of document.querySelectorAll(`input[name=${name}]`)) radio.checked = radio.value === queue[setting];
    }
    $("qs-autoplay").checked = queue.autoplay;
    $("qs-avoid").disabled = !queue.autoplay;
    for (const input of NUMBERS()) {
      if (document.activeElement === input) continue; // never overwrite what the host is typing
      const unit = Number(input.dataset.unit || 1);
      const shown = String(queue[input.dataset.setting] / unit);
      if (input.value !== shown) input.value = shown;
    }
  }

  _number(input) {
    const unit = Number(input.dataset.unit || 1);
    const value = numberSetting(input.value, { min: Number(input.min), max: Number(input.max), unit });
    const setting = input.dataset.setting;
    if (value === null) {
      $("queue-settings-error").textContent = `Type a number from ${input.min} to ${input.max} ; 0 turns it off.`;
      return;
    }
    if (value === this.getRoom().queue[setting]) return;
    this._change({ [setting]: value });
  }

  _change(changes) {
    $("queue-settings-error").textContent = "";
    $("queue-settings-status").textContent = "Saving…";
    this.send(
      { type: "queue_settings", ...changes },
      {
        onAck: () => ($("queue-settings-status").textContent = "Saved."),
        onError: (message) => {
          $("queue-settings-status").textContent = "";
          $("queue-settings-error").textContent = message;
          this.render(this.getRoom()); // back to the server's state
        },
      },
    );
  }
}
