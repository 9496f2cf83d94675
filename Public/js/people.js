// The people side of a range (where an agent's, or a team's agents', time went and how offers were answered),
// shared by the team's performance tab and the agent's page.
import { h, percent, seconds } from "./ui.js";

export function peopleCard(people) {
  if (!people) return null;
  const t = people.totals;
  const hours = value => `${(value / 3600).toFixed(1)} h`;
  const away = Object.values(t.away_seconds ?? {}).reduce((sum, value) => sum + value, 0);
  return h("div", { class: "card stats", dataset: { test: "people-totals" } },
    h("div", { class: "stat" }, h("b", {}, t.occupancy === null ? "—" : percent(t.occupancy)), h("span", {}, "occupancy")),
    h("div", { class: "stat" }, h("b", {}, hours(t.talk_seconds)), h("span", {}, "on calls")),
    h("div", { class: "stat" }, h("b", {}, hours(t.wrap_up_seconds)), h("span", {}, "wrap-up")),
    h("div", { class: "stat" }, h("b", {}, hours(t.available_seconds)), h("span", {}, "available")),
    h("div", { class: "stat" }, h("b", {}, hours(away)), h("span", {}, "away")),
    h("div", { class: "stat" }, h("b", {}, `${t.offers_accepted}/${t.offers_made}`), h("span", {}, "offers accepted")),
    h("div", { class: "stat" }, h("b", {}, t.offers_missed), h("span", {}, "offers missed")),
    h("div", { class: "stat" }, h("b", {}, t.avg_answer_seconds === null ? "—" : seconds(t.avg_answer_seconds)), h("span", {}, "avg answer")));
}

/// The call figures of a range: handled, success, resolution, satisfaction, and handling time (talk plus
/// after-call work) with its wrap-up part.
export function callTotals(totals, extra = []) {
  return h("div", { class: "card stats", dataset: { test: "totals" } },
    h("div", { class: "stat" }, h("b", {}, totals.calls_handled), h("span", {}, "calls handled")),
    h("div", { class: "stat" }, h("b", {}, percent(totals.success_rate)), h("span", {}, "success rate")),
    h("div", { class: "stat" }, h("b", {}, percent(totals.resolution_rate)), h("span", {}, "resolved")),
    h("div", { class: "stat" }, h("b", {}, totals.avg_satisfaction === null ? "—" : Number(totals.avg_satisfaction).toFixed(2)),
      h("span", {}, "satisfaction (1–5)")),
    h("div", { class: "stat" }, h("b", {}, seconds(totals.avg_handling_time)), h("span", {}, "avg handling")),
    h("div", { class: "stat" }, h("b", {}, seconds(totals.avg_wrap_up_time)), h("span", {}, "of it wrap-up")),
    ...extra);
}
