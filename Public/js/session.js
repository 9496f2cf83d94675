// The signed-in user's token (kept in sessionStorage) and what it says about them.
const KEY = "switchboard.token";

function decodeClaims(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(atob(payload).split("").map(c => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

export const session = {
  token() { return sessionStorage.getItem(KEY); },
  claims() { const token = this.token(); return token ? decodeClaims(token) : null; },
  save(token) {
    const claims = decodeClaims(token.trim());
    if (!claims || !claims.client_id || !claims.role) return false;
    sessionStorage.setItem(KEY, token.trim());
    return true;
  },
  clear() { sessionStorage.removeItem(KEY); },
  role() { return this.claims()?.role ?? "viewer"; },
  canWrite() { return ["manager", "admin"].includes(this.role()); },
  isAdmin() { return this.role() === "admin"; },
};

/// A token arriving as `/#token=…` (the link `switchboard serve` prints) is saved and removed from the address bar.
export function takeTokenFromAddress() {
  const match = location.hash.match(/^#token=([^&]+)/);
  if (!match) return false;
  const saved = session.save(decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search + "#/teams");
  return saved;
}
