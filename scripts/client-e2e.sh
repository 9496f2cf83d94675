#!/usr/bin/env bash
# Builds the generated Swift client (Clients/Swift, from docs/openapi.yaml by swift-openapi-generator), fails on any
# generator warning about the document, then runs the client's end-to-end tests against a fresh server (SQLite).
#   scripts/client-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product switchboard 2>&1 | grep -E "error:" || true

workdir=$(mktemp -d)
echo "building Clients/Swift (the generator runs as a build plugin)"
# The plugin prints the generator's diagnostics; an unsupported schema would make the client lose a type or an
# operation without failing the build, so any warning about the document fails here.
if ! swift build --package-path Clients/Swift --build-tests > "$workdir/client-build.log" 2>&1; then
  tail -60 "$workdir/client-build.log"; echo "the client package did not build"; exit 1
fi
if grep -iE "warning: .*(not supported|unsupported|skipping)" "$workdir/client-build.log"; then
  echo "the generator warned about docs/openapi.yaml (above)"; exit 1
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SWITCHBOARD_SQLITE_PATH="$workdir/client.sqlite" SWITCHBOARD_JWT_SECRET=$(head -c 32 /dev/urandom | base64)
export LOG_LEVEL=warning
unset DATABASE_URL
.build/debug/switchboard serve --port "$port" > "$workdir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$workdir"' EXIT
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
token=$(.build/debug/switchboard token --client-id swift-client --role admin --ttl 3600)
# A tenant of its own for the test that turns offers and wrap-up on (the other tests run meanwhile).
people_token=$(.build/debug/switchboard token --client-id swift-client-people --role admin --ttl 3600)

SWITCHBOARD_URL="http://127.0.0.1:$port" SWITCHBOARD_TOKEN="$token" SWITCHBOARD_PEOPLE_TOKEN="$people_token" \
  swift test --package-path Clients/Swift --skip-build 2>&1 | tee "$workdir/client-test.log" | grep -E "✘|✔ Test|Test run with" || true
grep -q "Test run with .* passed" "$workdir/client-test.log" || { tail -40 "$workdir/client-test.log"; exit 1; }
if grep -q "skipped" "$workdir/client-test.log"; then echo "a client test was skipped (no server?)"; exit 1; fi
