// Adding a song by link: the service is guessed from the link; title and length are needed
// only while the server cannot look them up.

import { $ } from "../dom.js";
import { guessService, parseDuration } from "../format.js";

export function wireAddForm(send) {
  $("add-url").addEventListener("input", () => {
    const service = guessService($("add-url").value);
    if (service) $("add-service").value = service;
  });
  $("add-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const error = $("add-error");
    error.textContent = "";
    const url = $("add-url").value.trim();
    const title = $("add-title").value.trim();
    const duration = parseDuration($("add-duration").value);
    if (!url) {
      error.textContent = "Paste a link to a song.";
      return $("add-url").focus();
    }
    if (Number.isNaN(duration) || duration === 0) {
      error.textContent = "Write the length as minutes:seconds, e.g. 3:30.";
      return $("add-duration").focus();
    }
    const frame = { type: "add", service: $("add-service").value, url };
    if (title) frame.title = title;
    if (duration !== null) frame.duration = duration;
    send(frame, {
      onAck: () => {
        $("add-form").reset();
        $("add-url").focus();
      },
      onError: (message) => (error.textContent = message),
    });
  });
}
