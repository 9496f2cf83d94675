// The dashboard shell: sign-in, the header, and a hash router over the pages.
import { whenUnauthorized } from "./api.js";
import { renderAgent } from "./pages/agent.js";
import { renderAgents } from "./pages/agents.js";
import { renderAnalytics } from "./pages/analytics.js";
import { renderChannel, renderChannels } from "./pages/channels.js";
import { renderDesk } from "./pages/desk.js";
import { renderFloor } from "./pages/floor.js";
import { renderRouting } from "./pages/routing.js";
import { renderTeam } from "./pages/team.js";
import { renderTeams } from "./pages/teams.js";
import { renderWallboard } from "./pages/wallboard.js";
import { renderWhatIf } from "./pages/whatif.js";
import { clearPageListeners, connect, disconnect } from "./live.js";
import { session, takeTokenFromAddress } from "./session.js";
import { beginNavigation, hideBanner, mount, showBanner, Superseded } from "./ui.js";

function showSignIn(message) {
  session.clear();
  disconnect();
  document.getElementById("nav").hidden = true;
  document.getElementById("menu-button").hidden = true;
  document.getElementById("who").hidden = true;
  document.getElementById("signin").hidden = false;
  mount();
  if (message) showBanner(message);
}

function showShell() {
  const claims = session.claims();
  document.getElementById("signin").hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("menu-button").hidden = false;
  document.getElementById("who").hidden = false;
  document.getElementById("who-tenant").textContent = claims.client_id;
  document.getElementById("who-role").textContent = claims.role;
  document.body.dataset.role = claims.role;
}

/// The phone-sized menu: the button opens and closes the page links; choosing a page closes it.
function setMenu(open) {
  document.getElementById("nav").classList.toggle("open", open);
  document.getElementById("menu-button").setAttribute("aria-expanded", String(open));
}
document.getElementById("menu-button").addEventListener("click", () =>
  setMenu(document.getElementById("menu-button").getAttribute("aria-expanded") !== "true"));

async function route() {
  if (takeTokenFromAddress()) hideBanner();
  if (!session.token()) { showSignIn(); return; }
  const claims = session.claims();
  if (claims?.exp && claims.exp * 1000 < Date.now()) { showSignIn("Your token has expired. Paste a new one to continue."); return; }
  showShell();
  clearPageListeners();
  beginNavigation();
  connect();
  const [path, queryString] = (location.hash.replace(/^#/, "") || "/teams").split("?");
  const query = new URLSearchParams(queryString ?? "");
  const parts = path.split("/").filter(Boolean);
  // An agent's token opens its desk, and only that.
  if (claims.role === "agent" && parts[0] !== "desk") { location.hash = "#/desk"; return; }
  document.querySelectorAll("[data-nav]").forEach(link => link.classList.toggle("active", link.dataset.nav === parts[0]));
  setMenu(false);
  if (parts[0] !== "wallboard") delete document.body.dataset.page;
  switch (parts[0]) {
    case "teams": return parts[1] ? renderTeam(parts[1], parts[2] ?? "members", query) : renderTeams(query);
    case "agents": return parts[1] ? renderAgent(parts[1], query) : renderAgents(query);
    case "routing": return renderRouting();
    case "analytics": return renderAnalytics(query);
    case "what-if": return renderWhatIf();
    case "channels": return parts[1] ? renderChannel(parts[1]) : renderChannels();
    case "wallboard": return renderWallboard(query);
    case "floor": return renderFloor(query);
    case "desk": return renderDesk();
    default: location.hash = "#/teams";
  }
}

whenUnauthorized(message => showSignIn(`Signed out: ${message}`));

document.getElementById("signin-form").addEventListener("submit", event => {
  event.preventDefault();
  const token = document.getElementById("signin-token").value;
  if (!session.save(token)) { showBanner("That does not look like a Switchboard token (a JWT with client_id and role)."); return; }
  document.getElementById("signin-token").value = "";
  hideBanner();
  if (location.hash.startsWith("#/")) route(); else location.hash = "#/teams";
});
document.getElementById("sign-out").addEventListener("click", () => { showSignIn(); showBanner("You are signed out.", "info"); });
document.getElementById("banner-close").addEventListener("click", hideBanner);
window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", event => {
  // A page the user left while it loaded stopped there on purpose.
  if (event.reason instanceof Superseded) { event.preventDefault(); return; }
  showBanner(event.reason?.message ?? "Something went wrong.");
});
route();
