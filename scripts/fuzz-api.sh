#!/usr/bin/env bash
# Fuzzes every operation in docs/openapi.yaml with schemathesis against a running server (SQLite, demo data, an
# admin token): wrong types, huge numbers, long strings, bad UUIDs, missing fields. Fails on any 5xx and on any
# answer that breaks the documented schema.
#   scripts/fuzz-api.sh [max_examples_per_operation]
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-25}"
# Python 3.12: under 3.11 hypothesis crashes inside ast.parse on deep schemas (see below), which the bulk bodies reach.
export PYENV_VERSION=3.12.1
python3 -m pip install -q "schemathesis>=4,<5"
swift build --product switchboard 2>&1 | grep -E "error:" || true

workdir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SWITCHBOARD_SQLITE_PATH="$workdir/fuzz.sqlite" SWITCHBOARD_RATE_LIMIT=off LOG_LEVEL=warning
unset DATABASE_URL SWITCHBOARD_JWT_SECRET
.build/debug/switchboard demo --port "$port" > "$workdir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$workdir"' EXIT
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
token=$(.build/debug/switchboard token --client-id demo --role admin --ttl 3600)

fuzz() {  # $1: seed
  st run docs/openapi.yaml --url "http://127.0.0.1:$port" -H "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
    --phases examples,coverage,fuzzing --max-examples "$examples" --seed "$1" --workers 2 --warnings off \
    --suppress-health-check all 2>&1 | tee "$workdir/fuzz.log"
  return "${PIPESTATUS[0]}"
}
status=0
fuzz 1 || status=$?
# CPython 3.11 sometimes fails inside hypothesis while it describes a strategy ("AST constructor recursion depth
# mismatch", a CPython bug in ast.parse under deep recursion): a crash of the tool, not a finding about the API.
# Only then, run again with another seed (the same seed tends to walk into the same crash), at most twice.
for seed in 2 3; do
  if [ $status -ne 0 ] && grep -q "AST constructor recursion depth mismatch" "$workdir/fuzz.log" \
      && ! grep -q "FAILURES" "$workdir/fuzz.log"; then
    echo "schemathesis itself crashed (a CPython bug, not an API failure); running it again with seed $seed"
    status=0
    fuzz $seed || status=$?
  fi
done
if grep -qi "internal error\|fatal" "$workdir/server.log"; then
  echo "the server logged internal errors:"; grep -i "internal error\|fatal" "$workdir/server.log" | head -20; exit 1
fi
exit $status
