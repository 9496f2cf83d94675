#!/usr/bin/env bash
# Load test of POST /api/calls with wrk against a release build, on SQLite (default) or PostgreSQL.
#   bench/run-load.sh [sqlite|postgres] [duration_seconds] [connections]
# Seeds one tenant with 200 agents (capacity 100 each, so calls are claimed rather than queued), then runs wrk with
# 2 threads. Prints calls/s and latency percentiles.
set -euo pipefail
cd "$(dirname "$0")/.."
database="${1:-sqlite}"
duration="${2:-15}"
connections="${3:-16}"
port=18181

command -v wrk >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
binary="${SWITCHBOARD_BINARY:-.build-release/release/switchboard}"
[ -x "$binary" ] || swift build -c release -Xswiftc -enable-testing --scratch-path .build-release --product switchboard >&2

workdir=$(mktemp -d)
export SWITCHBOARD_JWT_SECRET="bench-secret-bench-secret-bench-secret-000"
export SWITCHBOARD_ENCRYPTION_KEY="$(head -c 32 /dev/zero | base64)"
export SWITCHBOARD_SQLITE_PATH="$workdir/bench.sqlite"
export LOG_LEVEL=warning SWITCHBOARD_RATE_LIMIT=off
if [ "$database" = postgres ]; then
  export DATABASE_URL=$(scripts/start-postgres.sh switchboard_bench | tail -1)
else
  unset DATABASE_URL
fi

"$binary" serve --hostname 127.0.0.1 --port $port > "$workdir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$workdir"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done

TOKEN=$("$binary" token --client-id "bench-$RANDOM" --role admin --ttl 3600)
export TOKEN
api="http://127.0.0.1:$port/api"
for i in $(seq 1 200); do
  curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
    -d "{\"name\":\"Agent $i\",\"sector\":\"billing\",\"max_concurrent\":100,\"capabilities\":[\"french\"],\"priority\":$(( i % 10 + 1 ))}" \
    "$api/agents"
done

echo "database=$database connections=$connections threads=2 duration_s=$duration"
wrk -t2 -c"$connections" -d"${duration}s" --latency -s bench/load/create_calls.lua "http://127.0.0.1:$port/api/calls" \
  | grep -E "^(requests|rps|errors|p[0-9]+_ms)="
active=$(curl -sf -H "Authorization: Bearer $TOKEN" "$api/calls?status=active&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["meta"]["total"])')
queued=$(curl -sf -H "Authorization: Bearer $TOKEN" "$api/calls?status=queued&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["meta"]["total"])')
echo "calls_active=$active calls_queued=$queued"
