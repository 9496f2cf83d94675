// Team comparison and top agents over a chosen range.
import { get, getAll } from "../api.js";
import { chart } from "../charts.js";
import { attempt, daysAgo, empty, exportButton, field, h, loading, number, openedPage, percent, select, table, today } from "../ui.js";

const METRICS = [["success_rate", "Success rate"], ["calls_handled", "Calls handled"], ["avg_satisfaction", "Satisfaction"],
  ["resolution_rate", "Resolution rate"], ["avg_handling_time", "Shortest handling time"]];

export async function renderAnalytics(query) {
  const view = openedPage();
  const from = h("input", { type: "date", value: query.get("from") ?? daysAgo(29), dataset: { test: "range-from" } });
  const to = h("input", { type: "date", value: query.get("to") ?? today() });
  const metric = select(METRICS, query.get("metric") ?? "success_rate", { dataset: { test: "metric" } });
  const minCalls = h("input", { type: "number", min: 0, value: query.get("min_calls") ?? 1 });
  const apply = () => {
    location.hash = `#/analytics?from=${from.value}&to=${to.value}&metric=${metric.value}&min_calls=${minCalls.value}`;
  };
  for (const control of [from, to, metric, minCalls]) control.addEventListener("change", apply);
  const comparison = h("div", {}, loading("Comparing teams…"));
  const top = h("div", {}, loading("Ranking agents…"));
  view.mount(h("h1", {}, "Analytics"),
    h("div", { class: "toolbar" }, field("From", from), field("To", to), field("Rank agents by", metric), field("Minimum calls", minCalls)),
    h("div", { class: "toolbar" },
      exportButton("Export team days (CSV)", () => `/api/analytics/export?level=team&from=${from.value}&to=${to.value}`,
        `team-metrics-${from.value}-${to.value}.csv`, "export-teams"),
      exportButton("Export agent days (CSV)", () => `/api/analytics/export?level=agent&from=${from.value}&to=${to.value}`,
        `agent-metrics-${from.value}-${to.value}.csv`, "export-agents"),
      exportButton("Export calls (CSV)", () => `/api/calls/export?from=${from.value}&to=${to.value}`,
        `calls-${from.value}-${to.value}.csv`, "export-calls")),
    h("h2", {}, "Teams compared"), comparison, h("h2", {}, "Top agents"), top);

  const range = `from=${from.value}&to=${to.value}`;
  const teams = await attempt(() => getAll("/api/teams?status=active"));
  if (teams) {
    const rows = [];
    for (let start = 0; start < teams.length; start += 20) {
      const ids = teams.slice(start, start + 20).map(team => team.id).join(",");
      rows.push(...(await attempt(() => get(`/api/analytics/teams/compare?team_ids=${ids}&${range}`)) ?? []));
    }
    comparison.replaceChildren(rows.length === 0 ? empty("No active teams.") : h("div", {},
      h("div", { class: "charts" },
        chart("Calls handled", "bar", rows.map(row => row.name), [{ label: "Calls", values: rows.map(row => row.totals.calls_handled) }], { axis: "Team" }),
        chart("Success rate (%)", "bar", rows.map(row => row.name),
          [{ label: "Success rate", values: rows.map(row => +(row.totals.success_rate * 100).toFixed(1)) }], { max: 100, axis: "Team" })),
      h("div", { class: "card" }, table(["Team", "Sector", { label: "Calls", num: true }, { label: "Success", num: true },
        { label: "Resolved", num: true }, { label: "Satisfaction", num: true }],
        rows.map(row => h("tr", { dataset: { test: "comparison-row" } }, h("td", {}, h("a", { href: `#/teams/${row.team_id}/performance?${range}` }, row.name)),
          h("td", {}, row.sector), h("td", { class: "num" }, row.totals.calls_handled), h("td", { class: "num" }, percent(row.totals.success_rate)),
          h("td", { class: "num" }, percent(row.totals.resolution_rate)), h("td", { class: "num" }, number(row.totals.avg_satisfaction, 2)))),
        { test: "comparison" }))));
  } else comparison.replaceChildren();

  const ranked = await attempt(() => get(`/api/analytics/agents/top?metric=${metric.value}&min_calls=${minCalls.value}&limit=10&${range}`));
  if (!ranked) { top.replaceChildren(); return; }
  const show = (value) => metric.value.endsWith("rate") ? percent(value)
    : metric.value === "avg_handling_time" ? `${Math.round(value)} s` : number(value, metric.value === "calls_handled" ? 0 : 2);
  const label = METRICS.find(([key]) => key === metric.value)[1];
  top.replaceChildren(ranked.length === 0 ? empty("No agent has enough calls in this range.") : h("div", { class: "charts" },
    h("div", { class: "card" }, table(["#", "Agent", "Sector", { label, num: true }, { label: "Calls", num: true }],
      ranked.map((agent, index) => h("tr", { dataset: { test: "top-agent-row" } }, h("td", {}, index + 1), h("td", {}, agent.name),
        h("td", {}, agent.sector), h("td", { class: "num" }, show(agent.value)), h("td", { class: "num" }, agent.calls_handled))),
      { test: "top-agents" })),
    chart(label, "bar", ranked.map(agent => agent.name), [{ label, values: ranked.map(agent =>
      metric.value.endsWith("rate") ? +(agent.value * 100).toFixed(1) : +Number(agent.value).toFixed(2)) }], { axis: "Agent" })));
}
