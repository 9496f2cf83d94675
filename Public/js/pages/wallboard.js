// A read-only, large-type board for a wall screen: calls waiting, the longest wait, calls in progress, today's
// service level against its target, and who is available, on calls or away, for the whole tenant, one team
// (`#/wallboard?team=ID`) or one sector (`#/wallboard?sector=NAME`). Live over the event stream (re-read at most
// every two seconds), with the waits ticking each second; it says plainly when its token has expired.
import { get, getAll, getPage } from "../api.js";
import { debounced, onLive } from "../live.js";
import { session } from "../session.js";
import { attempt, h, openedPage, today } from "../ui.js";

export async function renderWallboard(query) {
  const view = openedPage();
  const teamId = query.get("team"), sector = query.get("sector")?.toLowerCase();
  const tile = (label, test) => {
    const value = h("b", { dataset: { test } }, "…");
    return { value, element: h("div", { class: "wall-tile" }, value, h("span", {}, label)) };
  };
  const waiting = tile("waiting", "wall-waiting"), longest = tile("longest wait", "wall-longest");
  const inProgress = tile("in progress", "wall-in-progress"), level = tile("answered in time today", "wall-service-level");
  const available = tile("available", "wall-available"), onCalls = tile("on calls", "wall-on-call");
  const away = tile("away or offline", "wall-away");
  const title = h("h1", { dataset: { test: "wall-title" } }, "Wallboard");
  const status = h("p", { class: "wall-status", dataset: { test: "wall-status" } }, "");
  const expired = h("div", { class: "wall-expired", role: "alert", dataset: { test: "wall-expired" }, hidden: true },
    "This board's token has expired. Open it again with a new token.");
  const root = h("section", { class: "wallboard", dataset: { test: "wallboard" } }, title, expired,
    h("div", { class: "wall-grid" }, waiting.element, longest.element, inProgress.element, level.element),
    h("div", { class: "wall-grid" }, available.element, onCalls.element, away.element), status);
  view.mount(root);
  document.body.dataset.page = "wallboard";

  const settings = await attempt(() => get("/api/settings"));
  const threshold = settings?.["sla.threshold_seconds"] ?? 20;
  let team = null;
  if (teamId) team = await attempt(() => get(`/api/teams/${teamId}`));
  title.textContent = team ? `${team.name}` : sector ? `Sector ${sector}` : "All calls";

  // The oldest 500 waiting calls are read; past that a team's or sector's count is "at least".
  let queued = [], waitingCount = "0", updatedAt = null;
  const grade = (element, value) => { element.dataset.grade = value; };
  const showWaits = () => {
    const now = Date.now();
    const oldest = queued.reduce((max, call) => Math.max(max, (now - Date.parse(call.created_at)) / 1000), 0);
    waiting.value.textContent = waitingCount;
    longest.value.textContent = queued.length ? duration(oldest) : "—";
    grade(longest.element, !queued.length || oldest <= threshold ? "good" : oldest <= 3 * threshold ? "warn" : "bad");
    grade(waiting.element, queued.length === 0 ? "good" : oldest <= threshold ? "warn" : "bad");
  };
  const refresh = async () => {
    const [queue, agents, active, report] = await Promise.all([
      attempt(() => getPage("/api/routing/queue?limit=500")),
      team ? attempt(() => get(`/api/teams/${team.id}`)).then(detail => uniqueAgents(detail))
        : attempt(() => getAll(`/api/agents?status=active${sector ? `&sector=${encodeURIComponent(sector)}` : ""}`)),
      team ? attempt(() => getPage(`/api/calls?status=active&team_id=${team.id}&limit=1`)).then(page => page?.meta?.total)
        : sector ? Promise.resolve(null) : attempt(() => get("/api/routing/health")).then(health => health?.active_calls),
      attempt(() => get(`/api/analytics/service-level?from=${today()}&to=${today()}${team ? `&team_id=${team.id}` : ""}`)),
    ]);
    if (queue) {
      const filtered = !!(team || sector);
      queued = queue.data.filter(call => team ? call.team_id === team.id : sector ? call.sector === sector : true);
      const more = filtered && queue.meta.total > queue.data.length;
      waitingCount = filtered ? `${more ? "≥ " : ""}${queued.length}` : String(queue.meta.total);
    }
    showWaits();
    if (agents) {
      const count = state => agents.filter(agent => agent.status === "active" && state.includes(agent.state)).length;
      available.value.textContent = count(["available"]);
      onCalls.value.textContent = count(["on_call"]);
      away.value.textContent = count(["away", "offline"]);
      // A sector's calls in progress are its agents' loads.
      inProgress.value.textContent = active ?? agents.reduce((sum, agent) => sum + agent.current_load, 0);
    }
    const figures = report?.totals;
    if (figures && figures.service_level !== null && figures.service_level !== undefined) {
      level.value.textContent = `${figures.service_level.toFixed(0)}%`;
      grade(level.element, figures.service_level >= report.target_percent ? "good"
        : figures.service_level >= report.target_percent - 10 ? "warn" : "bad");
      level.element.querySelector("span").textContent =
        `answered within ${report.threshold_seconds} s today (target ${report.target_percent}%)${sector ? ", all sectors" : ""}`;
    } else {
      level.value.textContent = "—";
    }
    updatedAt = new Date();
  };

  const later = debounced(refresh, 2000);
  onLive(["call.*", "queue.depth_changed", "agent.*", "aggregation.completed", "resync"], later);
  // One ticker while the board is shown: the waits move, the connection and the token are checked.
  const ticker = setInterval(() => {
    if (!document.body.contains(root)) { clearInterval(ticker); delete document.body.dataset.page; return; }
    showWaits();
    const live = document.getElementById("live")?.dataset.state ?? "offline";
    status.textContent = `${live === "live" ? "Live" : live === "connecting" ? "Reconnecting…" : "Offline"}`
      + (updatedAt ? ` · updated ${updatedAt.toLocaleTimeString()}` : "");
    const exp = session.claims()?.exp;
    if (exp && exp * 1000 < Date.now()) {
      expired.hidden = false;
      root.classList.add("stale");
    }
  }, 1000);
  await refresh();
}

function uniqueAgents(team) {
  if (!team) return null;
  const byId = new Map();
  for (const member of team.members ?? []) for (const agent of member.agents ?? []) byId.set(agent.id, agent);
  return [...byId.values()];
}

function duration(seconds) {
  const whole = Math.floor(seconds);
  return whole < 60 ? `${whole} s` : `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")}`;
}
