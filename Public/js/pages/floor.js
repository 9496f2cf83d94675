// The floor (managers and admins): every agent's state (available, offered a call, on a call, wrap-up, away and
// why, offline) and how long it has been in it, live; filtered by team or sector.
import { get, getAll } from "../api.js";
import { debounced, onLive } from "../live.js";
import { session } from "../session.js";
import { attempt, empty, field, h, loading, openedPage, politeSummary, select, table } from "../ui.js";

const STATES = ["available", "offered", "on_call", "wrap_up", "away", "offline"];

/// "42 s", "3 min 05 s", "2 h 10 min".
export function duration(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  if (whole < 60) return `${whole} s`;
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
  return `${Math.floor(whole / 3600)} h ${String(Math.floor((whole % 3600) / 60)).padStart(2, "0")} min`;
}

export async function renderFloor(query) {
  const view = openedPage();
  if (!session.canWrite()) { view.mount(empty("The floor is for managers and admins.")); return; }
  const teamId = query.get("team") ?? "";
  const sector = query.get("sector") ?? "";
  const board = h("div", {}, loading("Loading the floor…"));
  const counts = h("div", { class: "floor-counts", dataset: { test: "floor-counts" } });
  const summary = politeSummary(() => counts.textContent, "floor-summary");
  const teams = await attempt(() => getAll("/api/teams")) ?? [];
  const root = h("div", { dataset: { test: "floor" } },
    h("div", { class: "toolbar" }, h("h1", {}, "Floor"), h("div", { class: "spacer" }), filters(teams, teamId, sector)),
    counts, summary.element, board);
  view.mount(root);

  async function refresh() {
    const [agents, team] = await Promise.all([
      attempt(() => getAll(`/api/agents?status=active${sector ? `&sector=${encodeURIComponent(sector)}` : ""}`)),
      teamId ? attempt(() => get(`/api/teams/${teamId}`)) : Promise.resolve(null),
    ]);
    if (!agents) return;
    const inTeam = team ? new Set(team.members.flatMap(member => member.agents.map(agent => agent.id))) : null;
    const shown = agents.filter(agent => !inTeam || inTeam.has(agent.id)).map(agent => ({ ...agent, floorState: agent.state }));
    const tally = Object.fromEntries(STATES.map(state => [state, shown.filter(agent => agent.floorState === state).length]));
    counts.replaceChildren(...STATES.map(state => h("span", { class: `pill ${state}`, dataset: { test: `floor-count-${state}` } },
      `${state.replace("_", " ")}: ${tally[state]}`)));
    summary.announce();
    if (shown.length === 0) { board.replaceChildren(empty("No active agents here.")); return; }
    shown.sort((a, b) => STATES.indexOf(a.floorState) - STATES.indexOf(b.floorState) || a.name.localeCompare(b.name));
    board.replaceChildren(h("div", { class: "card" }, table(["Agent", "Sector", "State", "For", "Load"],
      shown.map(agent => h("tr", { dataset: { test: "floor-row", agentId: agent.id, state: agent.floorState } },
        h("td", {}, agent.name), h("td", {}, agent.sector),
        h("td", {}, h("span", { class: `pill ${agent.floorState}`, dataset: { test: "floor-state" } },
          agent.floorState === "away" ? `away: ${agent.presence_reason ?? ""}` : agent.floorState.replace("_", " "))),
        h("td", { dataset: { since: agent.state_since, test: "floor-since" } },
          duration((Date.now() - new Date(agent.state_since).getTime()) / 1000)),
        h("td", {}, `${agent.current_load}/${agent.max_concurrent}`))),
      { test: "floor-table" })));
  }

  onLive(["call.*", "agent.*", "resync"], debounced(refresh, 300));
  const ticker = setInterval(() => {
    if (!root.isConnected) { clearInterval(ticker); return; }
    for (const cell of root.querySelectorAll("[data-since]")) {
      cell.textContent = duration((Date.now() - new Date(cell.dataset.since).getTime()) / 1000);
    }
  }, 1000);
  await refresh();
}

function filters(teams, teamId, sector) {
  const team = select([["", "All teams"], ...teams.map(item => [item.id, item.name])], teamId, { dataset: { test: "floor-team" } });
  const sectorInput = h("input", { value: sector, placeholder: "any sector", dataset: { test: "floor-sector" } });
  const apply = () => {
    const params = new URLSearchParams();
    if (team.value) params.set("team", team.value);
    if (sectorInput.value.trim()) params.set("sector", sectorInput.value.trim().toLowerCase());
    location.hash = `#/floor?${params}`;
  };
  team.addEventListener("change", apply);
  sectorInput.addEventListener("change", apply);
  return h("div", { class: "form-grid" }, field("Team", team), field("Sector", sectorInput));
}
