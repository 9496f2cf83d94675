#!/usr/bin/env bash
# Runs every benchmark and writes the figures to docs/PERFORMANCE.md (previous file kept as .previous).
#   bench/run-all.sh            # everything (about 15 minutes, most of it generating 1M calls twice)
#   QUICK=1 bench/run-all.sh    # skip the 1M-call aggregation benchmark
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
DURATION="${DURATION:-10}"; CONNECTIONS="${CONNECTIONS:-16}"; THREADS=2

echo "building release binaries" >&2
swift build -c release -Xswiftc -enable-testing --scratch-path .build-release >&2
bin=.build-release/release
out=$(mktemp)
say() { echo "$@" | tee -a "$out"; }

metric() { grep -oE "^$1=[0-9.]+" | head -1 | cut -d= -f2; }
wrk_run() {  # url script -> "rps p50 p99"
  local result
  result=$(wrk -t$THREADS -c"$CONNECTIONS" -d"${DURATION}s" -s "$2" "$1" 2>/dev/null)
  echo "$(echo "$result" | metric rps) $(echo "$result" | metric p50_ms) $(echo "$result" | metric p99_ms)"
}

say "# Switchboard performance"
say ""
say "Measured by \`bench/run-all.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
say "release build, wrk with $THREADS threads and $CONNECTIONS connections for ${DURATION} s per row, client and server on the same machine."
say ""
say "## AgentScorer (pure ranking, no I/O)"
say '```'
$bin/SwitchboardBench scorer | tee -a "$out"
say '```'

port=18090
$bin/SwitchboardBench hello $port >/dev/null 2>&1 &
hello=$!
sleep 1
read -r ceiling hello_p50 hello_p99 <<<"$(PATH_TO_GET=/hello TOKEN= wrk_run "http://127.0.0.1:$port/hello" bench/load/get_path.lua)"
kill $hello
say ""
say "## HTTP: throughput and latency"
say ""
say "Ceiling: Vapor answering a constant \`GET /hello\` (no middleware, no database): **${ceiling} req/s** (p50 ${hello_p50} ms, p99 ${hello_p99} ms)."
say ""
say "| database | request | req/s | p50 ms | p99 ms | % of ceiling |"
say "|---|---|---:|---:|---:|---:|"

rss_lines=()
for database in sqlite postgresql; do
  workdir=$(mktemp -d)
  export SWITCHBOARD_JWT_SECRET="bench-secret-bench-secret-bench-secret-000" SWITCHBOARD_RATE_LIMIT=off LOG_LEVEL=warning
  export SWITCHBOARD_ENCRYPTION_KEY="$(head -c 32 /dev/zero | base64)" SWITCHBOARD_SQLITE_PATH="$workdir/bench.sqlite"
  if [ $database = postgresql ]; then export DATABASE_URL=$(scripts/start-postgres.sh switchboard_bench | tail -1); else unset DATABASE_URL; fi
  port=$((port + 1))
  $bin/switchboard serve --port $port >"$workdir/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
  export TOKEN=$($bin/switchboard token --client-id "bench-$database" --role admin --ttl 7200)
  api="http://127.0.0.1:$port/api"
  H=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
  for i in $(seq 1 20); do
    team=$(curl -sf "${H[@]}" -d "{\"name\":\"Team $i\",\"sector\":\"billing\"}" "$api/teams" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])')
    for m in 1 2 3; do
      member=$(curl -sf "${H[@]}" -d "{\"name\":\"M$m\",\"email\":\"m$m@t$i.example\",\"role\":\"member\"}" "$api/teams/$team/members" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])')
      agent=$(curl -sf "${H[@]}" -d "{\"name\":\"A$i-$m\",\"sector\":\"billing\",\"max_concurrent\":100}" "$api/agents" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])')
      curl -sf -o /dev/null "${H[@]}" -d "{\"agent_ids\":[\"$agent\"]}" "$api/teams/$team/members/$member/agents"
    done
  done
  for row in "GET /api/teams:/api/teams" "GET /api/teams/:id:/api/teams/$team"; do
    label=${row%%:/api*}; path=/api${row#*:/api}
    read -r rps p50 p99 <<<"$(PATH_TO_GET=$path wrk_run "http://127.0.0.1:$port$path" bench/load/get_path.lua)"
    say "| $database | \`$label\` | $rps | $p50 | $p99 | $(python3 -c "print(f'{100*$rps/$ceiling:.0f}%')") |"
  done
  read -r rps p50 p99 <<<"$(wrk_run "$api/calls" bench/load/create_calls.lua)"
  say "| $database | \`POST /api/calls\` (claims until 60 agents × 100 are full, then queues) | $rps | $p50 | $p99 | $(python3 -c "print(f'{100*$rps/$ceiling:.0f}%')") |"
  kill $server; wait $server 2>/dev/null || true
  # A fresh server for create+complete, so agents have room.
  $bin/switchboard serve --port $port >>"$workdir/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
  export TOKEN=$($bin/switchboard token --client-id "bench-$database-2" --role admin --ttl 7200)
  H=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
  for i in $(seq 1 20); do curl -sf -o /dev/null "${H[@]}" -d "{\"name\":\"C$i\",\"sector\":\"billing\",\"max_concurrent\":100}" "$api/agents"; done
  read -r rps p50 p99 <<<"$(wrk_run "$api/calls" bench/load/create_complete.lua)"
  say "| $database | \`POST /api/calls\` + \`POST /api/calls/:id/complete\`, alternating | $rps | $p50 | $p99 | $(python3 -c "print(f'{100*$rps/$ceiling:.0f}%')") |"
  kill $server; wait $server 2>/dev/null || true

  # Memory with 10k and 100k agents in one sector pool, after a route has loaded the pool into the cache.
  for agents in 10000 100000; do
    tenant="rss-$agents-$RANDOM"
    $bin/SwitchboardBench seed-agents $agents "$tenant" >/dev/null
    $bin/switchboard serve --port $port >>"$workdir/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
    tok=$($bin/switchboard token --client-id "$tenant" --role admin --ttl 600)
    start=$(date +%s%N)
    curl -sf -o /dev/null -H "Authorization: Bearer $tok" -H "Content-Type: application/json" -d '{"sector":"billing"}' "http://127.0.0.1:$port/api/routing/route"
    first=$(( ($(date +%s%N) - start) / 1000000 ))
    start=$(date +%s%N)
    curl -sf -o /dev/null -H "Authorization: Bearer $tok" -H "Content-Type: application/json" -d '{"sector":"billing"}' "http://127.0.0.1:$port/api/routing/route"
    second=$(( ($(date +%s%N) - start) / 1000000 ))
    rss=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' /proc/$server/status)
    rss_lines+=("| $database | $agents | $rss MB | $first ms | $second ms |")
    kill $server; wait $server 2>/dev/null || true
  done
  rm -rf "$workdir"
done

say ""
say "## Memory (RSS) with large sector pools"
say ""
say "| database | agents in the pool | server RSS after routing | first route (loads the pool) | next route (cached pool, live loads) |"
say "|---|---:|---:|---:|---:|"
for line in "${rss_lines[@]}"; do say "$line"; done

if [ -z "${QUICK:-}" ]; then
  say ""
  say "## Aggregation: 1,000,000 completed calls over 30 days, 1,000 agents, 50 teams"
  for database in sqlite postgresql; do
    say ""
    say "$database:"
    say '```'
    if [ $database = postgresql ]; then
      DATABASE_URL=$(scripts/start-postgres.sh switchboard_bench | tail -1) $bin/SwitchboardBench aggregate | tee -a "$out"
    else
      env -u DATABASE_URL $bin/SwitchboardBench aggregate | tee -a "$out"
    fi
    say '```'
  done
fi
mkdir -p bench/results
cp "$out" "bench/results/run-$(date -u +%Y%m%dT%H%M%SZ).md"
echo "raw results in bench/results/; merge them into docs/PERFORMANCE.md" >&2
