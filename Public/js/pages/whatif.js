// "What if": replays a range of past calls under the current routing settings and under proposed ones, side by
// side, and lets an admin switch the proposal on.
import { get, post, put } from "../api.js";
import { chart } from "../charts.js";
import { attempt, daysAgo, empty, field, h, loading, number, openedPage, percent, select, table, today } from "../ui.js";
import { session } from "../session.js";

const WEIGHTS = [["success_rate", "Success rate"], ["priority", "Priority"], ["load", "Load"],
  ["handling_time", "Handling time"], ["capabilities", "Capabilities"]];

export async function renderWhatIf() {
  const view = openedPage();
  if (!session.canWrite()) {
    view.mount(h("h1", {}, "What if"), empty("Simulations are for managers and admins."));
    return;
  }
  view.mount(h("h1", {}, "What if"), loading("Reading the routing settings…"));
  const settings = await attempt(() => get("/api/settings"));
  if (!settings) return;
  const from = h("input", { type: "date", value: daysAgo(6), dataset: { test: "whatif-from" } });
  const to = h("input", { type: "date", value: today(), dataset: { test: "whatif-to" } });
  const weights = WEIGHTS.map(([key, label]) => [key, h("input", {
    type: "number", min: 0, max: 1000, step: "any", value: settings["routing.weights"][key], dataset: { test: `whatif-weight-${key}` },
    "aria-label": `${label} weight`,
  }), label]);
  const strategy = select([["formula", "Formula (7-day success rate)"], ["learning", "Learning (Bayesian estimate)"]],
    settings["routing.strategy"], { dataset: { test: "whatif-strategy" } });
  const maxWait = h("input", { type: "number", min: 1, max: 86400, placeholder: "no limit", value: settings["routing.max_wait_seconds"] ?? "",
    dataset: { test: "whatif-max-wait" } });
  const offerTime = h("input", { type: "number", min: 0, max: 300, value: settings["routing.offer_timeout_seconds"] ?? 0,
    dataset: { test: "whatif-offer" }, title: "0: calls are assigned at once; 5–300: offered to the agent for this long" });
  const wrapUp = h("input", { type: "number", min: 0, max: 3600, value: settings["calls.wrap_up_seconds"] ?? 0,
    dataset: { test: "whatif-wrap-up" } });
  const run = h("button", { type: "submit", class: "primary", dataset: { test: "whatif-run" } }, "Simulate");
  const error = h("p", { class: "error small", dataset: { test: "whatif-error" } });
  const results = h("div", { dataset: { test: "whatif-results" } });
  const form = h("form", { class: "card" },
    h("div", { class: "toolbar" }, field("From", from), field("To", to), field("Strategy", strategy),
      field("Callers give up after (s)", maxWait), field("Offer time (s)", offerTime), field("Wrap-up (s)", wrapUp)),
    h("div", { class: "toolbar" }, weights.map(([, input, label]) => field(`${label} weight`, input))),
    h("div", { class: "toolbar" }, run, error));

  const proposal = () => {
    const policy = { weights: Object.fromEntries(weights.map(([key, input]) => [key, Number(input.value)])), strategy: strategy.value };
    policy.max_wait_seconds = maxWait.value === "" ? null : Number(maxWait.value);
    policy.offer_timeout_seconds = Number(offerTime.value || 0);
    policy.wrap_up_seconds = Number(wrapUp.value || 0);
    return { from: from.value, to: to.value, policy };
  };
  form.addEventListener("submit", async event => {
    event.preventDefault();
    run.disabled = true;
    results.replaceChildren(loading("Replaying the calls…"));
    const outcome = await attempt(() => post("/api/routing/simulate", proposal()), error);
    run.disabled = false;
    results.replaceChildren(outcome ? comparison(outcome) : "");
  });
  view.mount(h("h1", {}, "What if"),
    h("p", { class: "muted" }, "Replays the calls of a range against today's agents, once with the routing settings as they are and once " +
      "with yours. Nothing is written until you apply."),
    form, results);
}

function comparison(outcome) {
  if (outcome.calls === 0) return empty("No calls in this range to replay.");
  const { current, proposed } = outcome;
  const rows = [
    ["Calls answered", current.answered, proposed.answered, v => v],
    ["…at once, from the team", current.by_step.team, proposed.by_step.team, v => v],
    ["…at once, from the sector", current.by_step.sector, proposed.by_step.sector, v => v],
    ["…after waiting", current.by_step.queue, proposed.by_step.queue, v => v],
    ["Abandoned", current.abandoned, proposed.abandoned, v => v],
    ["Rejected", current.rejected, proposed.rejected, v => v],
    ["Never answered", current.unanswered, proposed.unanswered, v => v],
    ["Median wait", current.wait_seconds.p50, proposed.wait_seconds.p50, v => `${number(v, 1)} s`],
    ["95th-percentile wait", current.wait_seconds.p95, proposed.wait_seconds.p95, v => `${number(v, 1)} s`],
    ["Longest wait", current.wait_seconds.max, proposed.wait_seconds.max, v => `${number(v, 1)} s`],
    ["Mean utilisation", current.utilisation_mean, proposed.utilisation_mean, percent],
    ["Utilisation spread (Gini)", current.utilisation_gini, proposed.utilisation_gini, v => number(v, 3)],
    ["Expected success", current.expected_success_rate, proposed.expected_success_rate, percent],
    ["Offers that ran out", current.offers_missed, proposed.offers_missed, v => v],
  ];
  const changes = Object.keys(outcome.proposed_settings);
  const status = h("span", { class: "muted small", dataset: { test: "whatif-apply-status" } });
  const apply = h("button", { type: "button", dataset: { test: "whatif-apply" }, disabled: changes.length === 0 || !session.isAdmin(),
    title: session.isAdmin() ? "" : "Only an admin changes settings" }, "Apply the proposed settings");
  apply.addEventListener("click", async () => {
    apply.disabled = true;
    const saved = await attempt(() => put("/api/settings", outcome.proposed_settings), status);
    if (saved) status.textContent = `Applied: ${changes.join(", ")}. The next call is routed with them.`;
    else apply.disabled = false;
  });
  const names = [...new Set([...current.agents, ...proposed.agents].map(agent => agent.name))].slice(0, 20);
  const use = (report) => names.map(name => +(100 * (report.agents.find(agent => agent.name === name)?.utilisation ?? 0)).toFixed(1));
  return h("div", {},
    h("h2", {}, `${outcome.calls} calls, ${outcome.from} to ${outcome.to}`),
    h("div", { class: "card" }, table(["", { label: "Current", num: true }, { label: "Proposed", num: true }],
      rows.map(([label, now, then, show]) => h("tr", { dataset: { test: "whatif-row" } }, h("td", {}, label),
        h("td", { class: "num" }, show(now)), h("td", { class: "num", dataset: { test: "whatif-proposed" } }, show(then)))),
      { test: "whatif-table" }),
    h("p", { class: "small" }, changes.length === 0 ? "The proposal is the current setting." : `Applying writes ${changes.join(", ")} (audited).`),
    h("div", { class: "toolbar" }, apply, status)),
    h("div", { class: "charts" },
      chart("Utilisation by agent (%)", "bar", names, [{ label: "Current", values: use(current) }, { label: "Proposed", values: use(proposed) }],
        { axis: "Agent" }),
      chart("Waits (s)", "bar", ["Median", "95th percentile", "Longest"], [
        { label: "Current", values: [current.wait_seconds.p50, current.wait_seconds.p95, current.wait_seconds.max] },
        { label: "Proposed", values: [proposed.wait_seconds.p50, proposed.wait_seconds.p95, proposed.wait_seconds.max] }],
        { axis: "Wait" })));
}
