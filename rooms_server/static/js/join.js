// The invite page (/join/{token}): the URL in the QR code. Shows the group, asks for a name,
// creates a guest (or keeps this phone's identity), joins and opens the room.

import { api, errorMessage } from "./api.js";
import { $, show } from "./dom.js";
import { inviteProblemText, roleLine } from "./roles.js";
import { clearSession, loadSession, saveSession } from "./session.js";

export async function initJoin() {
  const token = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
  const problem = (title, text) => {
    show($("join-loading"), false);
    show($("join-ok"), false);
    $("problem-title").textContent = title;
    $("problem-text").textContent = text;
    show($("join-problem"), true);
    document.title = title;
  };
  const inviteProblem = (result) => {
    const words = inviteProblemText(result);
    if (words) {
      problem(...words);
    } else {
      problem("Something went wrong", errorMessage(result, "The server could not open this invite right now."));
    }
  };

  let invite;
  try {
    invite = await api("GET", `/api/invites/${encodeURIComponent(token)}`);
  } catch {
    problem("No connection", "Check that this phone is online (and on the same network as the host), then reload.");
    return;
  }
  if (invite.status !== 200 || !invite.data || !invite.data.group) {
    inviteProblem(invite);
    return;
  }
  const group = invite.data.group;
  $("group-name").textContent = group.name;
  const line = roleLine(invite.data.role);
  $("join-role").textContent = line;
  show($("join-role"), line !== "");
  document.title = `Join ${group.name}`;

  // A phone that already has an identity keeps it (same name, same token) while it is valid.
  let session = loadSession();
  if (session) {
    try {
      const me = await api("GET", "/api/me", { token: session.token });
      if (me.status === 200 && me.data) {
        session = { ...session, user: { id: me.data.id, name: me.data.name } };
        saveSession(session);
        $("join-name").value = me.data.name;
        $("join-hint").textContent = `Welcome back, ${me.data.name}. Change the name to join as someone else.`;
      } else if (me.status === 401) {
        clearSession();
        session = null;
      }
    } catch {
      /* offline: the join below reports it */
    }
  }
  show($("join-loading"), false);
  show($("join-ok"), true);
  if (!$("join-name").value) $("join-name").focus();

  const form = $("join-form");
  const submit = $("join-submit");
  const error = $("join-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const name = $("join-name").value.trim();
    if (!name) {
      error.textContent = "Please enter a name.";
      $("join-name").focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Joining…";
    try {
      const path = `/api/invites/${encodeURIComponent(token)}/join`;
      let joined;
      if (!session || session.user.name !== name) {
        // A new guest: created and joined in one request (one round trip on a crowded network).
        joined = await api("POST", path, { body: { name } });
        if (joined.status === 201 && joined.data) {
          const { group, ...created } = joined.data;
          saveSession({ token: created.token, user: created.user, expires_at: created.expires_at });
          location.assign(`/groups/${encodeURIComponent(group.id)}`);
          return;
        }
        if (joined.status === 422) {
          error.textContent = errorMessage(joined, "That name does not work; try another one.");
          return;
        }
      } else {
        joined = await api("POST", path, { token: session.token });
        if (joined.status === 200 && joined.data) {
          location.assign(`/groups/${encodeURIComponent(joined.data.id)}`);
          return;
        }
      }
      if (joined.status === 401) {
        clearSession();
        session = null;
        error.textContent = "Your saved identity has expired. Press Join again.";
      } else if (joined.status === 404 || joined.status === 410) {
        inviteProblem(joined);
      } else {
        error.textContent = errorMessage(joined, "Could not join the room. Try again.");
      }
    } catch {
      error.textContent = "No connection to the server. Try again.";
    } finally {
      submit.disabled = false;
      submit.textContent = "Join the room";
    }
  });
}

initJoin();
