// The agent catalogue with live load; admins create and edit agents.
import { get, getAll, post, put } from "../api.js";
import { csvImporter } from "../importer.js";
import { session } from "../session.js";
import { attempt, empty, field, h, loadBar, loading, openedPage, percent, seconds, select, statusPill, table } from "../ui.js";

export async function renderAgents(query) {
  const view = openedPage();
  const sector = query.get("sector") ?? "";
  const status = query.get("status") ?? "";
  const list = h("div", {}, loading("Loading agents…"));
  const editor = h("div", {});
  const importer = h("div", {});
  const importButton = session.isAdmin() ? h("button", {
    type: "button", dataset: { test: "show-import" },
    onclick: () => {
      importer.replaceChildren(importer.childElementCount ? "" : csvImporter({
        title: "Import agents from CSV", path: "/api/agents/bulk",
        columns: ["external_id", "name", "sector", "priority", "max_concurrent", "channel_capacity", "capabilities", "status", "contact"],
        onImported: () => setTimeout(() => window.dispatchEvent(new HashChangeEvent("hashchange")), 1500),
      }));
    },
  }, "Import CSV") : null;
  view.mount(h("div", { class: "toolbar" }, h("h1", {}, "Agents"), h("div", { class: "spacer" }), filters(sector, status), importButton),
    importer, session.isAdmin() ? agentForm(null, editor) : null, editor, list);
  const params = new URLSearchParams();
  if (sector) params.set("sector", sector);
  if (status) params.set("status", status);
  const [agents, settings] = await Promise.all([attempt(() => getAll(`/api/agents?${params}`)), attempt(() => get("/api/settings"))]);
  if (!agents) { list.replaceChildren(); return; }
  const awayReasons = settings?.["agents.away_reasons"] ?? ["break", "lunch", "training", "meeting"];
  if (agents.length === 0) { list.replaceChildren(empty("No agents match.")); return; }
  list.replaceChildren(h("div", { class: "card" }, table(
    ["Name", "Sector", "Status", "Presence", "Load", "Channel limits", { label: "Priority", num: true }, "Capabilities", { label: "Success (7 d)", num: true },
      { label: "Avg handling", num: true }, ""],
    agents.map(agent => h("tr", { dataset: { test: "agent-row", agentId: agent.id } },
      h("td", {}, h("a", { href: `#/agents/${agent.id}`, dataset: { test: "agent-link" } }, agent.name)), h("td", {}, agent.sector),
      h("td", {}, statusPill(agent.status)),
      h("td", {}, presenceCell(agent, awayReasons)),
      h("td", {}, loadBar(agent.current_load, agent.max_concurrent)), h("td", {}, channelSlots(agent)),
      h("td", { class: "num" }, agent.priority),
      h("td", {}, capabilityChips(agent)),
      h("td", { class: "num" }, percent(agent.success_rate)), h("td", { class: "num" }, seconds(agent.avg_handling_time)),
      h("td", {}, session.isAdmin() ? h("button", {
        type: "button", dataset: { test: "edit-agent" },
        onclick: () => { editor.replaceChildren(agentForm(agent, editor)); editor.scrollIntoView({ behavior: "smooth" }); },
      }, "Edit") : null))),
    { test: "agents" })));
}

/// What the agent is doing now ("on call", "away: lunch", "wrap up" with its end); managers and admins change
/// its presence here, and end its after-call work with "Ready".
function presenceCell(agent, awayReasons) {
  const label = agent.state === "away" ? `away: ${agent.presence_reason ?? ""}` : agent.state.replace("_", " ");
  const pill = h("span", { class: `pill ${agent.state}`, dataset: { test: "agent-state" },
    title: agent.wrap_up_until ? `after-call work until ${new Date(agent.wrap_up_until).toLocaleTimeString()}` : null }, label);
  if (!session.canWrite()) return pill;
  const ready = agent.state === "wrap_up" ? h("button", {
    type: "button", dataset: { test: "end-wrap-up" }, "aria-label": `${agent.name} is ready: end after-call work`,
    onclick: async event => {
      const updated = await attempt(() => post(`/api/agents/${agent.id}/wrap-up/end`));
      if (updated) event.target.closest("td").replaceChildren(presenceCell(updated, awayReasons));
    },
  }, "Ready") : null;
  const current = agent.presence === "away" ? `away:${agent.presence_reason}` : agent.presence;
  const choice = select([["available", "Available"], ...awayReasons.map(reason => [`away:${reason}`, `Away: ${reason}`]),
    ["offline", "Offline"]], current);
  choice.setAttribute("aria-label", `Presence of ${agent.name}`);
  choice.dataset.test = "presence-select";
  choice.addEventListener("change", async () => {
    const [presence, reason] = choice.value.split(":");
    const updated = await attempt(() => put(`/api/agents/${agent.id}/presence`, reason ? { presence, reason } : { presence }));
    if (updated) choice.closest("td").replaceChildren(presenceCell(updated, awayReasons));
  });
  return h("span", { class: "presence" }, pill, ready, choice);
}

/// Each limited channel's live calls against its limit: "voice 1/1 · webchat 2/3"; "—" when none is limited.
function channelSlots(agent) {
  const limits = Object.entries(agent.channel_capacity ?? {});
  if (limits.length === 0) return h("span", { class: "muted", dataset: { test: "channel-slots" } }, "—");
  return h("span", { class: "chips", dataset: { test: "channel-slots" } }, limits.map(([channel, limit]) => {
    const load = agent.channel_loads?.[channel] ?? 0;
    return h("span", { class: `pill${load >= limit ? " full" : ""}`, title: `${load} ${channel} call(s) of at most ${limit}` },
      `${channel} ${load}/${limit}`);
  }));
}

/// "voice=1, webchat=3" ⇄ {voice: 1, webchat: 3}; an empty text removes every limit.
const formatLimits = (limits) => Object.entries(limits ?? {}).map(([channel, limit]) => `${channel}=${limit}`).join(", ");
function parseLimits(text) {
  const limits = {};
  for (const part of text.split(",").map(value => value.trim()).filter(Boolean)) {
    const match = part.match(/^([a-z]+)\s*[=:]\s*(\d+)$/);
    if (!match) throw new Error(`"${part}" is not channel=number (for example voice=1)`);
    limits[match[1]] = Number(match[2]);
  }
  return limits;
}

/// Capabilities as chips; one below the top level shows its level ("french 3/5").
function capabilityChips(agent) {
  return h("span", { class: "chips", dataset: { test: "agent-capabilities" } }, agent.capabilities.map(capability => {
    const level = agent.capability_levels?.[capability];
    return level ? h("span", { class: "pill", title: `level ${level} of 5` }, `${capability} ${level}/5`) : h("span", { class: "pill" }, capability);
  }));
}

/// "french=3, vip" as the form shows an agent's capabilities.
function formatCapabilities(agent) {
  return agent.capabilities.map(capability => {
    const level = agent.capability_levels?.[capability];
    return level ? `${capability}=${level}` : capability;
  }).join(", ");
}

/// The form's capabilities: names, each with an optional level 1–5 after "=" (5 when left out).
function parseCapabilities(text) {
  const capabilities = [], levels = {};
  for (const part of text.split(",").map(value => value.trim()).filter(Boolean)) {
    const match = part.match(/^([^=]+?)\s*(?:=\s*(\d+))?$/);
    if (!match) throw new Error(`"${part}" is not a capability, or capability=level (for example french=3)`);
    const name = match[1].toLowerCase();
    if (match[2] !== undefined) {
      const level = Number(match[2]);
      if (level < 1 || level > 5) throw new Error(`${name}: a level is 1 to 5`);
      levels[name] = level;
    }
    capabilities.push(name);
  }
  return { capabilities, levels };
}

function filters(sector, status) {
  const sectorInput = h("input", { value: sector, placeholder: "any sector" });
  const statusSelect = select([["", "All"], ["active", "Active"], ["inactive", "Inactive"]], status);
  const apply = () => {
    const params = new URLSearchParams();
    if (sectorInput.value.trim()) params.set("sector", sectorInput.value.trim().toLowerCase());
    if (statusSelect.value) params.set("status", statusSelect.value);
    location.hash = `#/agents?${params}`;
  };
  sectorInput.addEventListener("change", apply);
  statusSelect.addEventListener("change", apply);
  return h("div", { class: "form-grid" }, field("Sector", sectorInput), field("Status", statusSelect));
}

/// Where the person answers Twilio calls, as the form shows it: the contact dialled first.
function formatContact(contact) {
  if (!contact) return "";
  return contact.sip ?? (contact.client ? `client:${contact.client}` : contact.phone ?? "");
}

/// The form's contact: a SIP address, "client:" and a Twilio Client identity, or an E.164 number; empty: none.
function parseContact(text) {
  const value = text.trim();
  if (value === "") return null;
  if (/^sips?:/i.test(value)) return { sip: value };
  if (/^client:/i.test(value)) return { client: value.slice(7) };
  if (value.startsWith("+")) return { phone: value.replace(/[\s()-]/g, "") };
  throw new Error("Phone contact: a SIP address (sip:ann@example.com), client: and a Twilio Client identity, or a number in E.164 (+44…)");
}

/// Create (agent null) or edit an agent. Load is shown, never edited: it follows the calls.
function agentForm(agent, editor) {
  const name = h("input", { required: true, maxlength: 120, value: agent?.name ?? "", dataset: { test: "agent-name" } });
  const sector = h("input", { required: true, maxlength: 64, value: agent?.sector ?? "", dataset: { test: "agent-sector" } });
  const priority = h("input", { type: "number", min: 1, max: 10, value: agent?.priority ?? 5 });
  const capacity = h("input", { type: "number", min: 1, max: 100, value: agent?.max_concurrent ?? 10 });
  const capabilities = h("input", { value: agent ? formatCapabilities(agent) : "", placeholder: "french=3, refunds",
    dataset: { test: "agent-capabilities" }, title: "Comma-separated; a level 1–5 after = (french=3), 5 when left out" });
  const limits = h("input", { value: formatLimits(agent?.channel_capacity), placeholder: "voice=1, webchat=3",
    dataset: { test: "agent-channel-capacity" }, title: "Calls of a channel the agent takes at once, beside the total" });
  const status = select([["active", "Active"], ["inactive", "Inactive"]], agent?.status ?? "active");
  const wrapUp = h("input", { type: "number", min: 0, max: 3600, value: agent?.wrap_up_seconds ?? "", placeholder: "tenant's",
    dataset: { test: "agent-wrap-up" }, title: "After-call work in seconds; empty: the tenant's calls.wrap_up_seconds" });
  const contact = h("input", { value: formatContact(agent?.contact), placeholder: "sip:ann@example.com, client:ann or +44…",
    dataset: { test: "agent-contact" }, title: "Where the agent answers calls from a Twilio number; empty: nowhere" });
  const error = h("div", { class: "form-error", dataset: { test: "form-error" } });
  const form = h("form", { class: "card", dataset: { test: agent ? "edit-agent-form" : "create-agent" } },
    h("h2", {}, agent ? `Edit ${agent.name}` : "New agent"),
    h("div", { class: "form-grid" }, field("Name", name, true), field("Sector", sector), field("Priority (1–10)", priority),
      field("Max concurrent calls", capacity), field("Per-channel limits", limits),
      field("Capabilities (comma-separated, level 1–5 after =)", capabilities, true), field("Status", status),
      field("Wrap-up seconds", wrapUp), field("Phone contact (Twilio)", contact),
      h("button", { type: "submit", class: "primary" }, agent ? "Save" : "Create agent"),
      agent ? h("button", { type: "button", onclick: () => editor.replaceChildren() }, "Cancel") : null),
    error);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    let channelCapacity, skills, phoneContact;
    try {
      channelCapacity = parseLimits(limits.value);
      skills = parseCapabilities(capabilities.value);
      phoneContact = parseContact(contact.value);
    } catch (problem) { error.textContent = problem.message; return; }
    const body = {
      name: name.value, sector: sector.value, priority: Number(priority.value), max_concurrent: Number(capacity.value),
      channel_capacity: channelCapacity, capabilities: skills.capabilities, capability_levels: skills.levels, status: status.value,
    };
    // Empty: the tenant's time (an edit clears the agent's own with null; a new agent simply has none).
    if (wrapUp.value !== "") body.wrap_up_seconds = Number(wrapUp.value);
    else if (agent?.wrap_up_seconds != null) body.wrap_up_seconds = null;
    // Sent only when changed, so an agent's other contact fields (set through the API) stay.
    if (contact.value.trim() !== formatContact(agent?.contact)) body.contact = phoneContact;
    const saved = await attempt(() => agent ? put(`/api/agents/${agent.id}`, body) : post("/api/agents", body), error);
    if (saved) window.dispatchEvent(new HashChangeEvent("hashchange"));
  });
  return form;
}
