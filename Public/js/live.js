// The tenant's live events over /api/events/stream: one connection for the whole dashboard, a "live" indicator in
// the header, reconnection with backoff that resumes from the last event seen, and listeners that pages register
// while they are shown.
import { session } from "./session.js";

const listeners = new Set();
let socket = null;
let lastSequence = null;
let retryDelay = 1000;
let retryTimer = null;

function indicator(state, title) {
  const element = document.getElementById("live");
  if (!element) return;
  element.dataset.state = state;
  element.title = title;
  element.querySelector(".live-label").textContent = { live: "live", connecting: "connecting…", offline: "offline" }[state];
}

function dispatch(event) {
  for (const listener of listeners) {
    if (listener.matches(event.type)) {
      try { listener.handler(event); } catch (error) { console.error(error); }
    }
  }
}

function scheduleReconnect(reason) {
  socket = null;
  if (!session.token()) { indicator("offline", "Signed out"); return; }
  indicator("connecting", `Reconnecting (${reason})`);
  clearTimeout(retryTimer);
  const delay = retryDelay * (0.8 + Math.random() * 0.4);
  retryDelay = Math.min(retryDelay * 2, 30000);
  retryTimer = setTimeout(connect, delay);
}

/** Opens the stream if it is not open; the token goes in the first message, never in the address. */
export function connect() {
  if (socket || !session.token()) return;
  clearTimeout(retryTimer);
  indicator("connecting", "Connecting to live updates");
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/events/stream`;
  const current = new WebSocket(url);
  socket = current;
  current.addEventListener("open", () => {
    const hello = { token: session.token() };
    if (lastSequence !== null) hello.since = lastSequence;
    current.send(JSON.stringify(hello));
  });
  current.addEventListener("message", message => {
    let event;
    try { event = JSON.parse(message.data); } catch { return; }
    if (event.type === "ready") {
      retryDelay = 1000;
      lastSequence = event.sequence;
      indicator("live", "Live: changes appear as they happen");
      return;
    }
    if (event.type === "resync") { lastSequence = event.sequence; dispatch({ type: "resync" }); return; }
    if (event.type === "error") return;
    if (typeof event.sequence === "number") lastSequence = event.sequence;
    dispatch(event);
  });
  current.addEventListener("close", close => {
    if (socket !== current) return;
    // 4001/4002: the token is bad or expired; reconnecting with it cannot help.
    if (close.code === 4001 || close.code === 4002) { socket = null; indicator("offline", "Live updates need a valid token"); return; }
    scheduleReconnect(close.code === 4008 ? "fell behind" : "connection lost");
  });
}

export function disconnect() {
  clearTimeout(retryTimer);
  const current = socket;
  socket = null;
  lastSequence = null;
  current?.close();
  indicator("offline", "Signed out");
}

/** Calls `handler` for events whose type matches one of `patterns` ("call.*", "queue.depth_changed", "resync"). */
export function onLive(patterns, handler) {
  const listener = {
    handler,
    matches: type => patterns.some(pattern => pattern === type || (pattern.endsWith(".*") && type.startsWith(pattern.slice(0, -1)))),
  };
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Forgets the listeners of the page being left. */
export function clearPageListeners() { listeners.clear(); }

/** Runs `task` at most once per `wait` ms however often it is asked for (for re-reads after bursts of events). */
export function debounced(task, wait = 400) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; task(); }, wait);
  };
}
