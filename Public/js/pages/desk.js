// An agent's own desk (what an `agent` token opens): its presence, the call offered to it with a countdown and
// Accept / Reject, its calls in progress with a completion form, and its after-call work with "Ready". Live over
// the event stream, which sends an agent token only the events about its own agent.
import { get, getAll, post, put } from "../api.js";
import { debounced, onLive } from "../live.js";
import { session } from "../session.js";
import { attempt, empty, field, h, loading, openedPage, select } from "../ui.js";

const remaining = (until) => Math.max(0, Math.ceil((new Date(until).getTime() - Date.now()) / 1000));

export async function renderDesk() {
  const view = openedPage();
  const own = session.claims()?.agent_id;
  if (!own) { view.mount(empty("The desk is for an agent's own token (role agent, with agent_id).")); return; }
  const heading = h("h1", {}, "My desk");
  const presence = h("div", { class: "desk-presence", dataset: { test: "desk-presence" } });
  const offers = h("section", { class: "card", "aria-labelledby": "desk-offers" }, h("h2", { id: "desk-offers" }, "Offered to me"));
  const calls = h("section", { class: "card", "aria-labelledby": "desk-calls" }, h("h2", { id: "desk-calls" }, "My calls"));
  const wrapUp = h("section", { class: "card", "aria-labelledby": "desk-wrap-up" }, h("h2", { id: "desk-wrap-up" }, "After-call work"));
  const said = h("p", { class: "visually-hidden", "aria-live": "assertive", dataset: { test: "desk-announcement" } });
  const root = h("div", { class: "desk", dataset: { test: "desk" } },
    h("div", { class: "toolbar" }, heading, h("div", { class: "spacer" }), presence), said, offers, calls, wrapUp);
  view.mount(loading("Loading your desk…"));
  let announcedOffers = new Set();
  let shown = false;

  async function refresh() {
    const [agent, offered, active, settings] = await Promise.all([
      attempt(() => get(`/api/agents/${own}`)), attempt(() => getAll("/api/calls?status=offered")),
      attempt(() => getAll("/api/calls?status=active")), attempt(() => get("/api/settings")),
    ]);
    if (!agent) return;
    if (!shown) { view.mount(root); shown = true; }
    heading.textContent = `${agent.name}'s desk`;
    presence.replaceChildren(...presenceControl(agent, settings?.["agents.away_reasons"] ?? [], refresh));
    const fresh = (offered ?? []).filter(call => !announcedOffers.has(call.id));
    if (fresh.length) said.textContent = fresh[0].callback ? `New callback offered to you: ring ${fresh[0].callback.phone}`
      : `New ${fresh[0].channel} call offered to you`;
    announcedOffers = new Set((offered ?? []).map(call => call.id));
    offers.replaceChildren(offers.firstChild, ...(offered?.length ? offered.map(call => offerCard(call, refresh))
      : [h("p", { class: "muted", dataset: { test: "no-offers" } }, "Nothing offered right now.")]));
    calls.replaceChildren(calls.firstChild, ...(active?.length ? active.map(call => callCard(call, refresh))
      : [h("p", { class: "muted" }, "No call in progress.")]));
    const mandatory = settings?.["calls.wrap_up_mode"] === "mandatory";
    wrapUp.replaceChildren(wrapUp.firstChild, agent.wrap_up_until
      ? h("div", { class: "wrap-up", dataset: { test: "desk-wrap-up" } },
        h("p", {}, "Wrapping up: ", h("strong", { dataset: { until: agent.wrap_up_until, test: "wrap-up-countdown" } },
          `${remaining(agent.wrap_up_until)} s`), " left."),
        mandatory ? h("p", { class: "muted" }, "It ends by itself (this centre's wrap-up is mandatory).")
          : h("button", { type: "button", class: "primary", dataset: { test: "desk-ready" },
            onclick: async () => { if (await attempt(() => post(`/api/agents/${own}/wrap-up/end`))) refresh(); } }, "Ready"))
      : h("p", { class: "muted" }, "None."));
  }

  onLive(["call.*", "agent.*", "resync"], debounced(refresh, 150));
  // Countdowns tick every second; an offer whose time ran out is read again (the server moved it on).
  const ticker = setInterval(() => {
    if (shown && !root.isConnected) { clearInterval(ticker); return; }  // another page replaced the desk
    let expired = false;
    for (const element of root.querySelectorAll("[data-until]")) {
      const left = remaining(element.dataset.until);
      element.textContent = `${left} s`;
      if (left === 0 && element.dataset.test === "offer-countdown") expired = true;
    }
    if (expired) refresh();
  }, 1000);
  await refresh();
}

function presenceControl(agent, reasons, refresh) {
  const label = agent.state === "away" ? `away: ${agent.presence_reason ?? ""}` : agent.state.replace("_", " ");
  const pill = h("span", { class: `pill ${agent.state}`, dataset: { test: "desk-state" } }, label);
  const current = agent.presence === "away" ? `away:${agent.presence_reason}` : agent.presence;
  const options = [["available", "Available"], ...reasons.map(reason => [`away:${reason}`, `Away: ${reason}`]), ["offline", "Offline"]];
  if (agent.presence === "away" && !reasons.includes(agent.presence_reason)) options.push([current, `Away: ${agent.presence_reason}`]);
  const choice = select(options, current, { "aria-label": "My presence", dataset: { test: "desk-presence-select" } });
  choice.addEventListener("change", async () => {
    const [presence, reason] = choice.value.split(":");
    if (await attempt(() => put(`/api/agents/${agent.id}/presence`, reason ? { presence, reason } : { presence }))) refresh();
  });
  return [pill, field("Presence", choice)];
}

function offerCard(call, refresh) {
  return h("div", { class: "offer", dataset: { test: "desk-offer", callId: call.id } },
    h("p", {}, h("strong", {}, `${call.channel} call`), ` · ${call.sector}`,
      call.capabilities.length ? ` · ${call.capabilities.join(", ")}` : ""),
    callbackLine(call),
    h("p", {}, "Accept within ", h("strong", { dataset: { until: call.offer_expires_at, test: "offer-countdown" } },
      `${remaining(call.offer_expires_at)} s`)),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "primary", dataset: { test: "desk-accept" },
        onclick: async () => { if (await attempt(() => post(`/api/calls/${call.id}/accept`))) refresh(); } }, "Accept"),
      h("button", { type: "button", dataset: { test: "desk-reject" },
        onclick: async () => { if (await attempt(() => post(`/api/calls/${call.id}/reject`))) refresh(); } }, "Reject")));
}

/** A callback has no caller on the line: the agent rings the number (a tel: link dials it on a phone). */
function callbackLine(call) {
  if (!call.callback) return "";
  return h("p", { class: "callback", dataset: { test: "desk-callback" } },
    h("strong", {}, "Callback"), ": the caller is not on the line; ring ",
    h("a", { href: `tel:${call.callback.phone}` }, call.callback.phone), ".");
}

function callCard(call, refresh) {
  const outcome = select([["successful", "Successful"], ["failed", "Failed"]], "successful", { dataset: { test: "desk-outcome" } });
  const resolved = h("input", { type: "checkbox", checked: true, dataset: { test: "desk-resolved" } });
  const satisfaction = select([["", "Not asked"], ["5", "5"], ["4", "4"], ["3", "3"], ["2", "2"], ["1", "1"]], "",
    { dataset: { test: "desk-satisfaction" } });
  const error = h("div", { class: "form-error" });
  const form = h("form", { class: "call-form", dataset: { test: "desk-call", callId: call.id } },
    h("p", {}, h("strong", {}, `${call.channel} call`), ` · ${call.sector} · since ${new Date(call.assigned_at).toLocaleTimeString()}`),
    callbackLine(call),
    h("div", { class: "form-grid" }, field("Outcome", outcome), field("Resolved", resolved), field("Satisfaction", satisfaction),
      h("button", { type: "submit", class: "primary", dataset: { test: "desk-complete" } }, "Complete")),
    error);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    const body = {
      outcome: outcome.value, resolved: resolved.checked,
      handling_time_seconds: Math.max(0, Math.round((Date.now() - new Date(call.assigned_at).getTime()) / 1000)),
    };
    if (satisfaction.value) body.satisfaction = Number(satisfaction.value);
    if (await attempt(() => post(`/api/calls/${call.id}/complete`, body), error)) refresh();
  });
  return form;
}
