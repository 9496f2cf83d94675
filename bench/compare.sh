#!/usr/bin/env bash
# Same-hour A/B of two builds of the server: each serves a fresh SQLite tenant with 100 agents and 5 teams, and wrk
# (2 threads, 16 connections) measures /health, GET /api/teams and POST /api/calls; the builds alternate ROUNDS times
# so that the machine's drift falls on both.
#   bench/compare.sh BINARY_A BINARY_B [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
rounds="${3:-3}"

measure() {  # binary port
  local binary=$1 port=$2 workdir server
  workdir=$(mktemp -d)
  SWITCHBOARD_JWT_SECRET="bench-secret-bench-secret-bench-secret-000" \
  SWITCHBOARD_ENCRYPTION_KEY="$(head -c 32 /dev/zero | base64)" \
  SWITCHBOARD_SQLITE_PATH="$workdir/bench.sqlite" LOG_LEVEL=warning SWITCHBOARD_RATE_LIMIT=off DATABASE_URL= \
    "$binary" serve --hostname 127.0.0.1 --port "$port" > "$workdir/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
  local token api="http://127.0.0.1:$port/api"
  token=$(SWITCHBOARD_JWT_SECRET="bench-secret-bench-secret-bench-secret-000" \
          SWITCHBOARD_ENCRYPTION_KEY="$(head -c 32 /dev/zero | base64)" SWITCHBOARD_SQLITE_PATH="$workdir/bench.sqlite" \
          "$binary" token --client-id "compare-$RANDOM" --role admin --ttl 3600)
  for i in $(seq 1 100); do
    curl -sf -o /dev/null -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
      -d "{\"name\":\"Agent $i\",\"sector\":\"billing\",\"max_concurrent\":100,\"priority\":$(( i % 10 + 1 ))}" "$api/agents"
  done
  for i in $(seq 1 5); do
    curl -sf -o /dev/null -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
      -d "{\"name\":\"Team $i\",\"sector\":\"billing\"}" "$api/teams"
  done
  local health teams calls
  health=$(PATH_TO_GET=/health TOKEN= wrk -t2 -c16 -d6s -s bench/load/get_path.lua "http://127.0.0.1:$port/health" 2>/dev/null | grep -oE "^rps=[0-9.]+" | cut -d= -f2)
  teams=$(PATH_TO_GET=/api/teams TOKEN=$token wrk -t2 -c16 -d6s -s bench/load/get_path.lua "$api/teams" 2>/dev/null | grep -oE "^rps=[0-9.]+" | cut -d= -f2)
  calls=$(TOKEN=$token wrk -t2 -c16 -d8s -s bench/load/create_calls.lua "$api/calls" 2>/dev/null | grep -oE "^rps=[0-9.]+" | cut -d= -f2)
  kill $server; wait $server 2>/dev/null || true; rm -rf "$workdir"
  echo "health=$health teams=$teams calls=$calls"
}

for round in $(seq 1 "$rounds"); do
  echo "round $round  A: $(measure "$1" 18301)"
  echo "round $round  B: $(measure "$2" 18302)"
done
