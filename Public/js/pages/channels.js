// The tenant's channels, and one channel: where its calls route, the addresses to paste into Twilio's console, and
// its last webhook requests with what became of each (a refused signature there names the usual cause).
import { get, getAll } from "../api.js";
import { attempt, empty, h, loading, openedPage, statusPill, table } from "../ui.js";

const isTwilio = (channel) => String(channel.config?.provider ?? "").toLowerCase() === "twilio";
const routesTo = (channel, teams) => channel.team_id
  ? h("a", { href: `#/teams/${channel.team_id}` }, teams.get(channel.team_id) ?? "a team")
  : channel.sector ? `sector ${channel.sector}` : "—";
const when = (iso) => new Date(iso).toLocaleString();

export async function renderChannels() {
  const view = openedPage();
  view.mount(h("h1", {}, "Channels"), loading("Loading channels…"));
  const [channels, teams] = await Promise.all([attempt(() => getAll("/api/channels")), attempt(() => getAll("/api/teams"))]);
  if (!channels) { view.mount(h("h1", {}, "Channels")); return; }
  const names = new Map((teams ?? []).map(team => [team.id, team.name]));
  view.mount(h("h1", {}, "Channels"),
    h("p", { class: "muted" }, "Channels are created and changed through the API (POST /api/channels). A Twilio channel's page shows the addresses to paste into Twilio's console and its recent webhook requests."),
    channels.length === 0 ? empty("No channels yet.") : h("div", { class: "card" }, table(
      ["Name", "Type", "Provider", "Routes to", "Status", "Credentials"],
      channels.map(channel => h("tr", { dataset: { test: "channel-row", channelId: channel.id } },
        h("td", {}, h("a", { href: `#/channels/${channel.id}`, dataset: { test: "channel-link" } }, channel.name)),
        h("td", {}, channel.type), h("td", {}, channel.config?.provider ?? "—"), h("td", {}, routesTo(channel, names)),
        h("td", {}, statusPill(channel.status)), h("td", {}, channel.credentials_set ? "set" : "not set"))),
      { test: "channels" })));
}

export async function renderChannel(channelId) {
  const view = openedPage();
  view.mount(loading("Loading channel…"));
  const channel = await attempt(() => get(`/api/channels/${channelId}`));
  if (!channel) { view.mount(empty("This channel could not be loaded.", h("a", { href: "#/channels" }, "Back to channels"))); return; }
  const teams = channel.team_id ? await attempt(() => getAll("/api/teams")) : [];
  const names = new Map((teams ?? []).map(team => [team.id, team.name]));
  const config = Object.entries(channel.config ?? {}).flatMap(([key, value]) =>
    [h("dt", {}, key.replace(/_/g, " ")), h("dd", {}, Array.isArray(value) ? value.join(", ") : String(value))]);
  const urls = channel.webhook_urls ? Object.entries(channel.webhook_urls).flatMap(([hook, url]) =>
    [h("dt", {}, { voice: "A call comes in", status: "Call status changes", wait: "Waiting callers (used by the answers)",
      messaging: "A message comes in" }[hook] ?? hook), h("dd", {}, h("code", { dataset: { test: `webhook-${hook}` } }, url))]) : [];
  const requests = h("div", {}, loading("Loading requests…"));
  view.mount(
    h("p", { class: "small" }, h("a", { href: "#/channels" }, "← Channels")),
    h("div", { class: "toolbar" }, h("h1", { dataset: { test: "channel-title" } }, channel.name), statusPill(channel.status),
      h("span", { class: "pill" }, channel.type)),
    h("div", { class: "card" }, h("h2", {}, "Configuration"),
      h("dl", { class: "facts" }, h("dt", {}, "routes to"), h("dd", {}, routesTo(channel, names)), config,
        h("dt", {}, "credentials"), h("dd", {}, channel.credentials_set ? "set (never shown)" : "not set"))),
    isTwilio(channel) ? h("div", { class: "card", dataset: { test: "webhook-urls" } }, h("h2", {}, "Twilio console addresses"),
      urls.length ? h("dl", { class: "facts" }, urls)
        : h("p", { class: "muted" }, "Set SWITCHBOARD_PUBLIC_URL (the address Twilio reaches this service at) and restart to see them.")) : null,
    isTwilio(channel) ? h("h2", {}, "Recent webhook requests") : null,
    isTwilio(channel) ? requests : null);
  if (!isTwilio(channel)) return;
  const log = await attempt(() => get(`/api/channels/${channel.id}/requests?limit=20`));
  if (!log) { requests.replaceChildren(); return; }
  requests.replaceChildren(log.length === 0 ? empty("No webhook request has reached this channel yet.") : h("div", { class: "card" }, table(
    ["When", "Hook", { label: "Status", num: true }, "Result"],
    log.map(entry => h("tr", { dataset: { test: "request-row" } }, h("td", {}, when(entry.received_at)), h("td", {}, entry.hook),
      h("td", { class: "num" }, entry.status), h("td", {}, entry.result))),
    { test: "requests" })));
}
