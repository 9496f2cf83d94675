// One team: members, their agent assignments, performance charts and the team's own settings.
import { del, get, getAll, getPage, post, put } from "../api.js";
import { chart } from "../charts.js";
import { csvImporter } from "../importer.js";
import { debounced, onLive } from "../live.js";
import { callTotals, peopleCard } from "../people.js";
import { session } from "../session.js";
import {
  attempt, daysAgo, empty, field, h, loadBar, loading, openedPage, percent, politeSummary, select, serviceLevelBadge,
  statusPill, table, today,
} from "../ui.js";

const TABS = [["members", "Members"], ["agents", "Agent assignments"], ["performance", "Performance"], ["settings", "Settings"]];

export async function renderTeam(teamId, tab, query) {
  const view = openedPage();
  view.mount(loading("Loading team…"));
  const team = await attempt(() => get(`/api/teams/${teamId}`));
  if (!team) { view.mount(empty("This team could not be loaded.", h("a", { href: "#/teams" }, "Back to teams"))); return; }
  const body = h("div", {});
  view.mount(
    h("p", { class: "small" }, h("a", { href: "#/teams" }, "← Teams")),
    h("div", { class: "toolbar" }, h("h1", { dataset: { test: "team-title" } }, team.name), statusPill(team.status),
      h("span", { class: "pill" }, team.sector)),
    todayCounters(teamId),
    h("nav", { class: "tabs", "aria-label": "Team sections" }, TABS.map(([key, label]) =>
      h("a", { href: `#/teams/${teamId}/${key}`, class: key === tab ? "active" : null, dataset: { test: `tab-${key}` } }, label))),
    body);
  const render = { members: membersTab, agents: agentsTab, performance: performanceTab, settings: settingsTab }[tab] ?? membersTab;
  await render(team, body, query);
}

const reload = () => window.dispatchEvent(new HashChangeEvent("hashchange"));

/// Today's calls of the team, kept current from the live stream (read again after bursts of call events).
function todayCounters(teamId) {
  const counters = [["active", "In progress"], ["queued", "Waiting"], ["completed", "Completed today"], ["", "All calls today"]]
    .map(([status, label]) => ({ status, value: h("strong", { dataset: { test: `today-${status || "all"}` } }, "…"), label }));
  const refresh = async () => {
    const day = today();
    await Promise.all(counters.map(async counter => {
      const query = `/api/calls?team_id=${teamId}&limit=1${counter.status ? `&status=${counter.status}` : ""}` +
        (counter.status === "active" || counter.status === "queued" ? "" : `&from=${day}&to=${day}`);
      const page = await attempt(() => getPage(query));
      if (page) counter.value.textContent = page.meta.total;
    }));
    announce();
  };
  const { element: summary, announce } = politeSummary(() =>
    counters.map(counter => `${counter.label}: ${counter.value.textContent}`).join(", "));
  onLive(["call.*", "resync"], debounced(refresh, 500));
  refresh();
  return h("div", { class: "counters", dataset: { test: "today" } },
    counters.map(counter => h("div", { class: "counter" }, counter.label, counter.value)), summary);
}

function membersTab(team, body) {
  const rows = team.members.map(member => {
    const role = select([["lead", "Lead"], ["supervisor", "Supervisor"], ["member", "Member"]], member.role,
      { disabled: !session.canWrite(), "aria-label": `Role of ${member.name}` });
    const status = select([["active", "Active"], ["inactive", "Inactive"]], member.status,
      { disabled: !session.canWrite(), "aria-label": `Status of ${member.name}` });
    const save = async () => {
      const updated = await attempt(() => put(`/api/teams/${team.id}/members/${member.id}`, { role: role.value, status: status.value }));
      if (updated) reload();
    };
    role.addEventListener("change", save);
    status.addEventListener("change", save);
    const remove = session.canWrite() ? h("button", {
      type: "button", class: "danger", dataset: { test: "remove-member" },
      onclick: async () => {
        if (!confirm(`Remove ${member.name} from ${team.name}? Their agent assignments are removed too.`)) return;
        if (await attempt(() => del(`/api/teams/${team.id}/members/${member.id}`))) reload();
      },
    }, "Remove") : null;
    return h("tr", { dataset: { test: "member-row" } }, h("td", {}, member.name), h("td", {}, member.email), h("td", {}, role),
      h("td", {}, status), h("td", { class: "num" }, member.agents.length), h("td", {}, remove));
  });
  body.replaceChildren(
    session.canWrite() ? addMemberForm(team) : null,
    session.canWrite() ? csvImporter({
      title: "Import members from CSV", path: `/api/teams/${team.id}/members/bulk`, columns: ["email", "name", "role"],
      onImported: () => setTimeout(reload, 1500),
    }) : null,
    team.members.length === 0 ? empty("No members yet.") :
      h("div", { class: "card" }, table(["Name", "Email", "Role", "Status", { label: "Agents", num: true }, ""], rows, { test: "members" })));
}

function addMemberForm(team) {
  const name = h("input", { required: true, maxlength: 120, dataset: { test: "member-name" } });
  const email = h("input", { type: "email", required: true, dataset: { test: "member-email" } });
  const role = select([["member", "Member"], ["supervisor", "Supervisor"], ["lead", "Lead"]], "member", { dataset: { test: "member-role" } });
  const error = h("div", { class: "form-error", dataset: { test: "form-error" } });
  const form = h("form", { class: "card", dataset: { test: "add-member" } },
    h("h2", {}, "Add a member"),
    h("div", { class: "form-grid" }, field("Name", name, true), field("Email", email, true), field("Role", role),
      h("button", { type: "submit", class: "primary" }, "Add member")),
    h("p", { class: "muted small" }, "Adding an email that is already in the team updates that member."),
    error);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    const member = await attempt(() => post(`/api/teams/${team.id}/members`, { name: name.value, email: email.value, role: role.value }), error);
    if (member) reload();
  });
  return form;
}

async function agentsTab(team, body) {
  body.replaceChildren(loading("Loading agents…"));
  const agents = session.canWrite() ? await attempt(() => getAll(`/api/agents?sector=${encodeURIComponent(team.sector)}&status=active`)) : [];
  if (team.members.length === 0) {
    body.replaceChildren(empty("Add members first: agents are assigned to members.", h("a", { href: `#/teams/${team.id}/members` }, "Members")));
    return;
  }
  body.replaceChildren(...team.members.map(member => {
    const assigned = new Set(member.agents.map(agent => agent.id));
    const rows = member.agents.map(agent => h("tr", { dataset: { test: "assigned-agent" } },
      h("td", {}, agent.name), h("td", {}, statusPill(agent.status)), h("td", {}, loadBar(agent.current_load, agent.max_concurrent)),
      h("td", { class: "num" }, agent.priority), h("td", { class: "num" }, percent(agent.success_rate)),
      h("td", {}, session.canWrite() ? h("button", {
        type: "button", class: "danger",
        onclick: async () => {
          if (await attempt(() => del(`/api/teams/${team.id}/members/${member.id}/agents/${agent.id}`))) reload();
        },
      }, "Unassign") : null)));
    let assign = null;
    if (session.canWrite()) {
      const choices = (agents ?? []).filter(agent => !assigned.has(agent.id));
      const picker = select([["", choices.length ? "Choose an agent…" : `No other active ${team.sector} agents`],
        ...choices.map(agent => [agent.id, `${agent.name} — load ${agent.current_load}/${agent.max_concurrent}, priority ${agent.priority}`])],
        "", { dataset: { test: "assign-select" } });
      const error = h("div", { class: "form-error" });
      assign = h("form", { class: "form-grid", dataset: { test: "assign-form" } }, field(`Assign to ${member.name}`, picker, true),
        h("button", { type: "submit", class: "primary" }, "Assign"), error);
      assign.addEventListener("submit", async event => {
        event.preventDefault();
        if (!picker.value) return;
        if (await attempt(() => post(`/api/teams/${team.id}/members/${member.id}/agents`, { agent_ids: [picker.value] }), error)) reload();
      });
    }
    return h("section", { class: "card", dataset: { test: "member-agents" } },
      h("h3", {}, `${member.name} `, h("span", { class: "muted small" }, member.role)),
      rows.length ? table(["Agent", "Status", "Load", { label: "Priority", num: true }, { label: "Success", num: true }, ""], rows)
        : h("p", { class: "muted" }, "No agents assigned."),
      assign);
  }));
}

async function performanceTab(team, body, query) {
  const from = h("input", { type: "date", value: query.get("from") ?? daysAgo(29), dataset: { test: "range-from" } });
  const to = h("input", { type: "date", value: query.get("to") ?? today(), dataset: { test: "range-to" } });
  const output = h("div", {}, loading("Loading performance…"));
  const apply = () => { location.hash = `#/teams/${team.id}/performance?from=${from.value}&to=${to.value}`; };
  from.addEventListener("change", apply);
  to.addEventListener("change", apply);
  body.replaceChildren(h("div", { class: "toolbar" }, field("From", from), field("To", to)), output);
  const range = `from=${from.value}&to=${to.value}`;
  const [trends, levels] = await Promise.all([
    attempt(() => get(`/api/analytics/teams/${team.id}/trends?${range}`)),
    attempt(() => get(`/api/analytics/service-level?team_id=${team.id}&${range}`))]);
  if (!trends) { output.replaceChildren(); return; }
  const totals = trends.totals;
  const summary = callTotals(totals, [
    levels ? h("div", { class: "stat" }, serviceLevelBadge(levels.totals, levels.target_percent),
      h("span", {}, `answered within ${levels.threshold_seconds} s`)) : null,
    levels ? h("div", { class: "stat" }, h("b", {}, levels.totals.abandoned), h("span", {}, "abandoned")) : null]);
  const levelChart = levels && levels.groups.length > 0
    ? chart(`Service level (% answered within ${levels.threshold_seconds} s)`, "line", levels.groups.map(day => day.date), [
      { label: "Service level", values: levels.groups.map(day => day.service_level === null ? null : +day.service_level.toFixed(1)) },
      { label: `Target (${levels.target_percent}%)`, values: levels.groups.map(() => levels.target_percent) }], { max: 100, axis: "Day" })
    : null;
  if (levelChart) levelChart.dataset.test = "service-level-chart";
  const people = peopleCard(trends.people);
  if (trends.daily.length === 0) {
    output.replaceChildren(summary, people ?? "", empty("No completed calls in this range yet. Figures appear after the next aggregation run."),
      levelChart ?? "");
    return;
  }
  const days = trends.daily.map(day => day.date);
  output.replaceChildren(summary, people ?? "", h("div", { class: "charts" },
    chart("Calls per day", "bar", days, [
      { label: "Successful", values: trends.daily.map(day => day.calls_successful) },
      { label: "Failed", values: trends.daily.map(day => day.calls_failed) }], { axis: "Day" }),
    chart("Success rate (%)", "line", days, [{ label: "Success rate", values: trends.daily.map(day => +(day.success_rate * 100).toFixed(1)) }], { max: 100, axis: "Day" }),
    chart("Satisfaction (1–5)", "line", days, [{ label: "Satisfaction", values: trends.daily.map(day => day.avg_satisfaction) }], { max: 5, axis: "Day" }),
    levelChart));
}

function settingsTab(team, body) {
  if (!session.canWrite()) {
    body.replaceChildren(h("div", { class: "card" }, h("p", {}, `Sector: ${team.sector}`), h("p", {}, team.description || "No description."),
      h("p", { class: "muted small" }, "Managers and admins can edit teams.")));
    return;
  }
  const name = h("input", { value: team.name, maxlength: 120, dataset: { test: "settings-name" } });
  const sector = h("input", { value: team.sector, maxlength: 64 });
  const description = h("input", { value: team.description, maxlength: 1000 });
  const status = select([["active", "Active"], ["inactive", "Inactive"]], team.status);
  const error = h("div", { class: "form-error", dataset: { test: "form-error" } });
  const form = h("form", { class: "card", dataset: { test: "team-settings" } },
    h("h2", {}, "Team settings"),
    h("div", { class: "form-grid" }, field("Name", name, true), field("Sector", sector), field("Description", description, true),
      field("Status", status), h("button", { type: "submit", class: "primary" }, "Save")),
    error);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    const saved = await attempt(() => put(`/api/teams/${team.id}`, {
      name: name.value, sector: sector.value, description: description.value, status: status.value,
    }), error);
    if (saved) reload();
  });
  const deactivate = h("section", { class: "card" }, h("h2", {}, "Deactivate"),
    h("p", { class: "muted" }, "The team keeps its history but stops appearing among active teams."),
    h("button", {
      type: "button", class: "danger", disabled: team.status === "inactive", dataset: { test: "deactivate-team" },
      onclick: async () => {
        if (!confirm(`Deactivate ${team.name}?`)) return;
        if (await attempt(() => del(`/api/teams/${team.id}`))) reload();
      },
    }, "Deactivate team"));
  body.replaceChildren(form, deactivate);
}
