// One agent: where it stands now, and over a range its calls' figures and where its time went.
import { get } from "../api.js";
import { chart } from "../charts.js";
import { callTotals, peopleCard } from "../people.js";
import { attempt, daysAgo, empty, field, h, loading, openedPage, statusPill, today } from "../ui.js";

export async function renderAgent(agentId, query) {
  const view = openedPage();
  view.mount(loading("Loading agent…"));
  const agent = await attempt(() => get(`/api/agents/${agentId}`));
  if (!agent) { view.mount(empty("This agent could not be loaded.", h("a", { href: "#/agents" }, "Back to agents"))); return; }
  const from = h("input", { type: "date", value: query.get("from") ?? daysAgo(29), dataset: { test: "range-from" } });
  const to = h("input", { type: "date", value: query.get("to") ?? today(), dataset: { test: "range-to" } });
  const apply = () => { location.hash = `#/agents/${agent.id}?from=${from.value}&to=${to.value}`; };
  from.addEventListener("change", apply);
  to.addEventListener("change", apply);
  const state = agent.state === "away" ? `away: ${agent.presence_reason ?? ""}` : agent.state.replace("_", " ");
  const output = h("div", {}, loading("Loading figures…"));
  view.mount(
    h("p", { class: "small" }, h("a", { href: "#/agents" }, "← Agents")),
    h("div", { class: "toolbar" }, h("h1", { dataset: { test: "agent-title" } }, agent.name), statusPill(agent.status),
      h("span", { class: "pill" }, agent.sector), h("span", { class: `pill ${agent.state}`, dataset: { test: "agent-state" } }, state)),
    h("div", { class: "toolbar" }, field("From", from), field("To", to)),
    output);
  const series = await attempt(() => get(`/api/agents/${agent.id}/metrics?from=${from.value}&to=${to.value}`));
  if (!series) { output.replaceChildren(); return; }
  const days = series.daily.map(day => day.date);
  const people = series.people?.daily ?? [];
  const occupancy = people.some(day => day.occupancy !== null)
    ? chart("Occupancy (%)", "line", people.map(day => day.date),
      [{ label: "Occupancy", values: people.map(day => day.occupancy === null ? null : +(day.occupancy * 100).toFixed(1)) }],
      { max: 100, axis: "Day" })
    : null;
  output.replaceChildren(callTotals(series.totals), peopleCard(series.people) ?? "",
    series.daily.length === 0
      ? empty("No completed calls in this range yet. Figures appear after the next aggregation run.")
      : h("div", { class: "charts" },
        chart("Calls per day", "bar", days, [
          { label: "Successful", values: series.daily.map(day => day.calls_successful) },
          { label: "Failed", values: series.daily.map(day => day.calls_failed) }], { axis: "Day" }),
        chart("Handling time (s)", "line", days, [
          { label: "Average handling", values: series.daily.map(day => Math.round(day.avg_handling_time)) },
          { label: "of it wrap-up", values: series.daily.map(day => Math.round(day.avg_wrap_up_time)) }], { axis: "Day" }),
        occupancy),
    series.daily.length === 0 && occupancy ? h("div", { class: "charts" }, occupancy) : "");
}
