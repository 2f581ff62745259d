// Runs inside /embed/spotify (a frame of the room page, same origin, its own CSP): hosts Spotify's
// iFrame API controller and relays commands from the room page and its playback updates back.

const API_URL = "https://open.spotify.com/embed/iframe-api/v1";
const parentOrigin = location.origin;

let controller = null;
let api = null;
let started = false; // play() starts a loaded track from its beginning; later starts resume()
let startAt = 0; // ms: where a freshly loaded track should start
const queue = [];

function post(message) {
  window.parent.postMessage(message, parentOrigin);
}

window.onSpotifyIframeApiReady = (IFrameAPI) => {
  api = IFrameAPI;
  while (queue.length) handle(queue.shift());
};

function load(uri, positionMs) {
  startAt = positionMs;
  started = false;
  if (controller) {
    controller.loadUri(uri);
    post({ event: "loaded" });
    return;
  }
  const element = document.getElementById("embed");
  api.createController(element, { uri, width: "100%", height: 152 }, (created) => {
    controller = created;
    controller.addListener("ready", () => post({ event: "loaded" }));
    controller.addListener("playback_update", (e) => {
      const d = e.data || {};
      post({ event: "update", isPaused: d.isPaused, isBuffering: d.isBuffering, position: d.position, duration: d.duration });
    });
    controller.addListener("error", (e) => post({ event: "error", message: (e && e.data && e.data.message) || "error" }));
  });
}

function handle(message) {
  if (!api) {
    queue.push(message);
    return;
  }
  switch (message.cmd) {
    case "load":
      return load(String(message.uri), Number(message.positionMs) || 0);
    case "play":
      if (!controller) return;
      if (started) controller.resume();
      else {
        started = true;
        controller.play();
        if (startAt > 0) controller.seek(startAt / 1000);
      }
      return;
    case "pause":
      return controller && controller.pause();
    case "seek":
      startAt = Number(message.positionMs) || 0;
      return controller && controller.seek(startAt / 1000);
    default:
  }
}

window.addEventListener("message", (event) => {
  if (event.origin !== parentOrigin || event.source !== window.parent) return;
  handle(event.data || {});
});

const script = document.createElement("script");
script.src = API_URL;
script.async = true;
document.head.append(script);
post({ event: "frame" });
