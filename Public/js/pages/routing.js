// Try a route and see every candidate's score; the recent decisions; the queue, in the order it hands calls out.
import { get, getAll, post } from "../api.js";
import { debounced, onLive } from "../live.js";
import { session } from "../session.js";
import { attempt, empty, exportButton, field, h, loadBar, loading, number, openedPage, politeSummary, select, statusPill, table } from "../ui.js";

export async function renderRouting() {
  const view = openedPage();
  const result = h("div", { dataset: { test: "route-result" } });
  const decisions = h("div", {}, loading("Loading decisions…"));
  const queue = h("div", {}, loading("Loading the queue…"));
  const depth = h("strong", { dataset: { test: "queue-depth" } }, "…");
  const active = h("strong", { dataset: { test: "active-calls" } }, "…");
  const loads = h("div", {}, loading("Loading agents…"));
  const { element: summary, announce } = politeSummary(() => `${depth.textContent} waiting, ${active.textContent} calls in progress`);
  const [teams, agents] = await Promise.all([
    attempt(() => getAll("/api/teams?status=active")), attempt(() => getAll("/api/agents?status=active")),
  ]);
  const names = new Map((agents ?? []).map(agent => [agent.id, agent.name]));
  view.mount(
    h("h1", {}, "Routing"),
    h("div", { class: "counters" },
      h("div", { class: "counter" }, "Waiting now", depth), h("div", { class: "counter" }, "Calls in progress", active)),
    summary,
    session.canWrite() ? routeForm(teams ?? [], names, result)
      : h("p", { class: "card muted" }, "Trying a route needs the manager or admin role."),
    result,
    h("h2", {}, "Queue"),
    h("div", { class: "toolbar" }, exportButton("Export queued calls (CSV)", () => "/api/calls/export?status=queued",
      "queued-calls.csv", "export-queue")),
    queue,
    h("h2", {}, "Agents now"), loads,
    h("h2", {}, "Recent decisions"), decisions);

  // Live: the counters and the agents' loads change in place; the queue and the decisions are read again
  // (at most a couple of times a second) when calls come, go or are handed out.
  const agentRows = new Map();
  loads.replaceChildren((agents ?? []).length === 0 ? empty("No active agents.") :
    h("div", { class: "card" }, table(["Agent", "Sector", "Load"], (agents ?? []).map(agent => {
      const cell = h("td", { dataset: { test: "live-load" } }, loadBar(agent.current_load, agent.max_concurrent));
      agentRows.set(agent.id, cell);
      return h("tr", { dataset: { test: "live-agent", agent: agent.id } }, h("td", {}, agent.name), h("td", {}, agent.sector), cell);
    }), { test: "live-agents" })));
  const refreshCounts = async () => {
    const health = await attempt(() => get("/api/routing/health"));
    if (health) { depth.textContent = health.queued_calls; active.textContent = health.active_calls; announce(); }
  };
  const refreshQueue = async () => showQueue(queue, await attempt(() => get("/api/routing/queue?limit=100")), names);
  const refreshDecisions = async () => showDecisions(decisions, names, await attempt(() => get("/api/routing/decisions?limit=20")));
  const queueLater = debounced(refreshQueue), decisionsLater = debounced(refreshDecisions), countsLater = debounced(refreshCounts);
  onLive(["queue.depth_changed"], event => { depth.textContent = event.data.queued; queueLater(); countsLater(); });
  onLive(["agent.load_changed"], event => {
    agentRows.get(event.data.agent_id)?.replaceChildren(loadBar(event.data.current_load, event.data.max_concurrent));
    countsLater();
  });
  onLive(["call.assigned"], () => { decisionsLater(); queueLater(); });
  onLive(["call.cancelled", "resync"], () => { queueLater(); countsLater(); decisionsLater(); });
  await Promise.all([refreshCounts(), refreshQueue(), refreshDecisions()]);
}

/// What a waiting call requires: capabilities, and minimum levels as its step holds them ("french ≥ 4", struck
/// through to the step's cap when a step lowered it); greyed once a step dropped them.
function needs(call) {
  const levels = call.required_levels ?? {};
  const names = [...new Set([...call.required_capabilities, ...Object.keys(levels)])];
  if (names.length === 0) return "—";
  const dropped = call.requirements_dropped ? " inactive" : "";
  return h("span", { class: "chips", dataset: { test: "queued-needs" } }, names.map(name => {
    const asked = levels[name];
    if (!asked) return h("span", { class: `pill${dropped}` }, name);
    const holds = call.max_required_level != null ? Math.min(asked, call.max_required_level) : asked;
    return h("span", { class: `pill${dropped}`, title: holds < asked ? `asked ${asked}, lowered to ${holds} by its step` : `level ${asked} or more` },
      holds < asked ? [name, " ≥ ", h("s", {}, String(asked)), ` ${holds}`] : `${name} ≥ ${asked}`);
  }));
}

function showQueue(queue, queued, names) {
  queue.replaceChildren(!queued ? "" : queued.length === 0 ? empty("Nobody is waiting.") :
    h("div", { class: "card" }, table(["Call", "Sector", { label: "Place", num: true }, { label: "Priority", num: true }, "Channel", "Needs",
      "Waiting", { label: "Est. wait", num: true }, "May go to", "Widens"], queued.map(call =>
      h("tr", { dataset: { test: "queued-call" } }, h("td", { class: "small" }, call.call_id.slice(0, 8)), h("td", {}, call.sector),
        h("td", { class: "num", dataset: { test: "queued-place" } }, call.queue_position ?? "—"),
        h("td", { class: "num", dataset: { test: "queued-priority" },
          title: `priority ${call.priority}, raised by its wait to ${call.effective_priority}` },
          priority(call)),
        h("td", {}, call.callback ? [call.channel, " · ", h("span", { class: "pill", title: `ring back ${call.callback.phone}`,
          dataset: { test: "queued-callback" } }, "callback")] : call.channel),
        h("td", {}, needs(call)),
        h("td", {}, wait(call.created_at)),
        h("td", { class: "num", dataset: { test: "queued-estimate" },
          title: call.estimated_wait_seconds === null ? "nobody who may take it is available" : "from its place and how fast its agents free a slot" },
          call.estimated_wait_seconds === null ? "—" : duration(call.estimated_wait_seconds)),
        h("td", { dataset: { test: "queued-pool" } }, call.waiting_for_agent_id
          ? h("span", { title: `kept for its preferred agent until ${new Date(call.preferred_until).toLocaleTimeString()}`,
            dataset: { test: "queued-preferred" } }, `only ${names.get(call.waiting_for_agent_id) ?? "its preferred agent"}`)
          : `${call.pool === "team" ? "its team" : "its sector"} (step ${call.step + 1})`),
        h("td", { class: "small", dataset: { test: "queued-widens" } },
          call.next_widening_at ? new Date(call.next_widening_at).toLocaleTimeString() : "at its widest"))),
      { test: "queue" })));
}

function showDecisions(decisions, names, log) {
  decisions.replaceChildren(!log ? "" : log.length === 0 ? empty("No decisions yet: they appear as calls come in.") :
    h("div", { class: "card" }, table(["When", "Trigger", { label: "Priority", num: true }, "Strategy", "Agent", { label: "Score", num: true },
      { label: "Candidates", num: true }],
      log.map(decision => h("tr", { dataset: { test: "decision-row" } },
        h("td", { class: "small" }, new Date(decision.created_at).toLocaleTimeString()), h("td", {}, decision.trigger),
        h("td", { class: "num", dataset: { test: "decision-priority" } }, priority(decision.request)),
        h("td", {}, statusPill(decision.strategy)), h("td", {}, decision.agent_id ? names.get(decision.agent_id) ?? decision.agent_id.slice(0, 8) : "—"),
        h("td", { class: "num" }, number(decision.score, 1)), h("td", { class: "num" }, decision.eligible_count))),
      { test: "decisions" })));
}

/** A call's priority and what its wait raised it to (a waiting call now, or a decision's call when routed); "—" for
 * a decision about no call. */
function priority(request) {
  if (request.priority === undefined) return "—";
  return request.effective_priority === request.priority ? String(request.priority) : `${request.priority} → ${request.effective_priority}`;
}

function wait(createdAt) {
  return duration(Math.max(0, Math.round((Date.now() - new Date(createdAt).getTime()) / 1000)));
}

function duration(seconds) {
  return seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
}

function routeForm(teams, names, result) {
  const team = select([["", "— by sector only —"], ...teams.map(team => [team.id, `${team.name} (${team.sector})`])], "",
    { dataset: { test: "route-team" } });
  const sector = h("input", { placeholder: "billing", dataset: { test: "route-sector" } });
  const capabilities = h("input", { placeholder: "french, vip", dataset: { test: "route-capabilities" } });
  const channel = select([["", "the default"], ["voice", "Voice"], ["sms", "SMS"], ["whatsapp", "WhatsApp"], ["email", "Email"],
    ["webchat", "Web chat"]], "", { dataset: { test: "route-channel" } });
  const error = h("div", { class: "form-error", dataset: { test: "form-error" } });
  const form = h("form", { class: "card", dataset: { test: "route-form" } },
    h("h2", {}, "Try a route"),
    h("p", { class: "muted small" }, "Shows who would take a call now and why. Nothing is changed or logged."),
    h("div", { class: "form-grid" }, field("Team", team, true), field("or sector", sector), field("Capabilities", capabilities, true),
      field("Channel", channel),
      h("button", { type: "submit", class: "primary" }, "Route")),
    error);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    const body = { capabilities: capabilities.value.split(",").map(value => value.trim()).filter(Boolean) };
    if (team.value) body.team_id = team.value; else body.sector = sector.value.trim();
    if (channel.value) body.channel = channel.value;
    const route = await attempt(() => post("/api/routing/route", body), error);
    if (route) result.replaceChildren(routeResult(route, names));
  });
  return form;
}

function routeResult(route, names) {
  const header = route.agent_id
    ? h("p", {}, "Chosen: ", h("strong", { dataset: { test: "chosen-agent" } }, names.get(route.agent_id) ?? route.agent_id),
      ` — score ${number(route.score, 2)} via the ${route.strategy} pool (${route.eligible_count} eligible).`)
    : h("p", { dataset: { test: "chosen-agent" } }, "No agent is free: the call would wait in the queue (or be refused if overflow is 'reject').");
  const factor = (f, ...more) => h("td", { class: "num breakdown" }, number(f.contribution, 2), h("small", {}, `value ${number(f.value, 2)}`), ...more);
  // Under learning, each requested skill the agent has: its level and how well it did on calls asking for it.
  const learnedSkills = (learning) => (learning?.capabilities ?? []).map(term =>
    h("small", { dataset: { test: "candidate-skill" } },
      `${term.capability} ${term.level}/5 × ${number(term.estimate, 2)} (${term.calls_observed} calls)`));
  return h("section", { class: "card" }, h("h2", {}, "Result"), header,
    route.candidates.length === 0 ? null : table(
      ["Agent", { label: "Score", num: true }, { label: "Success", num: true }, { label: "Priority", num: true },
        { label: "Load", num: true }, { label: "Handling", num: true }, { label: "Skills", num: true }],
      route.candidates.map(candidate => h("tr", { class: candidate.agent_id === route.agent_id ? "chosen" : null, dataset: { test: "candidate-row" } },
        h("td", {}, names.get(candidate.agent_id) ?? candidate.agent_id.slice(0, 8), " ",
          h("span", { class: "muted small" }, `${candidate.current_load}/${candidate.max_concurrent}`),
          candidate.channel_slots?.capacity != null ? h("span", { class: "muted small", dataset: { test: "candidate-channel" } },
            ` · ${candidate.channel_slots.channel} ${candidate.channel_slots.load}/${candidate.channel_slots.capacity}`) : null,
          candidate.breakdown.learning ? h("span", { class: "muted small", dataset: { test: "candidate-learning" } },
            ` · estimate ${number(candidate.breakdown.learning.estimate, 3)} from ${candidate.breakdown.learning.calls_observed} calls` +
            (candidate.breakdown.learning.optimism_bonus > 0 ? ` + ${number(candidate.breakdown.learning.optimism_bonus, 3)} optimism` : "") +
            (candidate.breakdown.learning.explored ? " (explored)" : "")) : null),
        h("td", { class: "num" }, h("strong", {}, number(candidate.score, 2))),
        factor(candidate.breakdown.success_rate), factor(candidate.breakdown.priority), factor(candidate.breakdown.load),
        factor(candidate.breakdown.handling_time), factor(candidate.breakdown.capabilities, ...learnedSkills(candidate.breakdown.learning)))),
      { test: "breakdown" }));
}
