// Teams overview: every team with today's figures, filters, and a form to create one.
import { get, getAll, post } from "../api.js";
import { session } from "../session.js";
import { attempt, daysAgo, empty, field, h, loading, openedPage, percent, select, serviceLevelBadge, statusPill, today } from "../ui.js";

export async function renderTeams(query) {
  const view = openedPage();
  const sector = query.get("sector") ?? "";
  const status = query.get("status") ?? "active";
  const list = h("div", {}, loading("Loading teams…"));
  const suggestions = session.canWrite() ? h("div", {}) : null;
  view.mount(
    h("div", { class: "toolbar" },
      h("h1", {}, "Teams"), h("div", { class: "spacer" }),
      filters(sector, status)),
    suggestions,
    session.canWrite() ? createForm() : null,
    list);
  if (suggestions) showSuggestions(suggestions);

  const params = new URLSearchParams();
  if (sector) params.set("sector", sector);
  if (status) params.set("status", status);
  const teams = await attempt(() => getAll(`/api/teams?${params}`));
  if (!teams) { list.replaceChildren(); return; }
  if (teams.length === 0) {
    list.replaceChildren(empty(sector || status !== "active" ? "No team matches these filters."
      : "No teams yet." + (session.canWrite() ? " Create the first one above." : "")));
    return;
  }
  const [todays, levels] = await Promise.all([todaysFigures(teams.map(team => team.id)), weeksServiceLevels()]);
  list.replaceChildren(h("div", { class: "cards", dataset: { test: "team-list" } },
    teams.map(team => teamCard(team, todays.get(team.id), levels.byTeam.get(team.id), levels.target))));
}

function filters(sector, status) {
  const sectorInput = h("input", { value: sector, placeholder: "any sector", dataset: { test: "filter-sector" } });
  const statusSelect = select([["active", "Active"], ["inactive", "Inactive"], ["", "All"]], status, { dataset: { test: "filter-status" } });
  const apply = () => {
    const params = new URLSearchParams();
    if (sectorInput.value.trim()) params.set("sector", sectorInput.value.trim().toLowerCase());
    params.set("status", statusSelect.value);
    location.hash = `#/teams?${params}`;
  };
  sectorInput.addEventListener("change", apply);
  statusSelect.addEventListener("change", apply);
  return h("div", { class: "form-grid" }, field("Sector", sectorInput), field("Status", statusSelect));
}

function createForm() {
  const name = h("input", { required: true, maxlength: 120, dataset: { test: "team-name" } });
  const sector = h("input", { required: true, maxlength: 64, placeholder: "billing", dataset: { test: "team-sector" } });
  const description = h("input", { maxlength: 1000, dataset: { test: "team-description" } });
  const error = h("div", { class: "form-error", dataset: { test: "form-error" } });
  const form = h("form", { class: "card", dataset: { test: "create-team" } },
    h("h2", {}, "New team"),
    h("div", { class: "form-grid" }, field("Name", name, true), field("Sector", sector), field("Description", description, true),
      h("button", { type: "submit", class: "primary" }, "Create team")),
    error);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    const team = await attempt(() => post("/api/teams", {
      name: name.value, sector: sector.value, description: description.value || undefined,
    }), error);
    if (team) location.hash = `#/teams/${team.id}/members`;
  });
  return form;
}

/// Today's calls and success rate per team, from the aggregated daily rows (20 teams per request).
async function todaysFigures(teamIds) {
  const figures = new Map();
  for (let start = 0; start < teamIds.length; start += 20) {
    const ids = teamIds.slice(start, start + 20).join(",");
    const rows = await attempt(() => get(`/api/analytics/teams/compare?team_ids=${ids}&from=${today()}&to=${today()}`));
    for (const row of rows ?? []) figures.set(row.team_id, row.totals);
  }
  return figures;
}

/// Moves the figures suggest (managers and admins), each with its evidence, expected effect and an Apply button.
async function showSuggestions(box) {
  const items = await attempt(() => get("/api/teams/suggestions"));
  if (!items) return;
  const status = h("div", { class: "form-ok", dataset: { test: "suggestion-status" }, "aria-live": "polite" });
  box.replaceChildren(h("div", { class: "card", dataset: { test: "suggestions" } },
    h("h2", {}, "Suggestions"),
    items.length === 0
      ? h("p", { class: "muted", dataset: { test: "no-suggestions" } },
        "No moves to suggest right now: no team that missed its service level has an agent of its sector with time to spare "
        + "and a record as good as the team's, and no team's success rate fell sharply this week.")
      : items.map(item => suggestionRow(item, status)),
    status));
}

function suggestionRow(item, status) {
  const error = h("div", { class: "form-error" });
  const apply = h("button", { type: "button", class: "primary", dataset: { test: "apply-suggestion" } },
    item.kind === "assign_agent" ? `Assign ${item.agent_name}` : `Take ${item.agent_name} off`);
  apply.addEventListener("click", async () => {
    apply.disabled = true;
    const done = await attempt(() => post(`/api/teams/suggestions/${encodeURIComponent(item.id)}/apply`), error);
    if (done) {
      status.textContent = `Done: ${done.summary.split(":")[0]}.`;
      setTimeout(() => window.dispatchEvent(new HashChangeEvent("hashchange")), 1500);
    } else {
      apply.disabled = false;
    }
  });
  return h("div", { class: "suggestion", dataset: { test: "suggestion", kind: item.kind } },
    h("p", {}, item.summary),
    h("p", { class: "muted small" }, "Expected: ", item.expected_effect.summary),
    apply, error);
}

/// Each team's service level over the last 7 days, and the tenant's target, in one request.
async function weeksServiceLevels() {
  const report = await attempt(() => get(`/api/analytics/service-level?group_by=team&from=${daysAgo(6)}&to=${today()}`));
  return {
    target: report?.target_percent ?? 80,
    byTeam: new Map((report?.groups ?? []).map(group => [group.team_id, group])),
  };
}

function teamCard(team, totals, serviceLevel, target) {
  return h("a", { class: "card team-card", href: `#/teams/${team.id}/members`, dataset: { test: "team-card", teamId: team.id } },
    h("div", {}, statusPill(team.status), " ", h("span", { class: "pill" }, team.sector)),
    h("h3", {}, team.name),
    team.description ? h("div", { class: "muted small" }, team.description) : null,
    h("div", { class: "stats" },
      h("div", { class: "stat" }, h("b", {}, team.member_count), h("span", {}, "members")),
      h("div", { class: "stat" }, h("b", {}, totals?.calls_handled ?? 0), h("span", {}, "calls today")),
      h("div", { class: "stat" }, h("b", {}, totals && totals.calls_handled > 0 ? percent(totals.success_rate) : "—"),
        h("span", {}, "success today")),
      h("div", { class: "stat" }, serviceLevelBadge(serviceLevel, target), h("span", {}, "service level, 7 days"))));
}
