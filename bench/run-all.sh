#!/usr/bin/env bash
# Runs every benchmark and writes the figures to docs/PERFORMANCE.md (previous file kept as .previous).
#   bench/run-all.sh            # everything (about 17 minutes, most of it generating 1M calls three times)
#   QUICK=1 bench/run-all.sh    # skip the 1M-call aggregation and export benchmarks
#   BIN=/tmp/before QUICK=1 bench/run-all.sh   # the same runs over binaries built elsewhere (a before/after pair)
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
DURATION="${DURATION:-10}"; CONNECTIONS="${CONNECTIONS:-16}"; THREADS=2

# BIN=/path/to/binaries measures an earlier build (switchboard and SwitchboardBench) with this harness.
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  echo "building release binaries" >&2
  swift build -c release -Xswiftc -enable-testing --scratch-path .build-release >&2
  bin=.build-release/release
fi
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
say ""
say "## Next route over a loaded book (in process)"
say '```'
book_output=$($bin/SwitchboardBench book)
echo "$book_output" | tee -a "$out"
say '```'
book_10k=$(echo "$book_output" | awk '$1 == 10000 {print $3}')
book_100k=$(echo "$book_output" | awk '$1 == 100000 {print $3}')
summary=()   # "label|target|measured|met"
target() { summary+=("$1|$2|$3|$4"); }
at_least() { python3 -c "print('yes' if float('$1') >= float('$2') else 'no')"; }
at_most() { python3 -c "print('yes' if float('$1') <= float('$2') else 'no')"; }
target "next route, 10,000 agents (in process)" "≤ 200 µs" "${book_10k} µs" "$(at_most "$book_10k" 200)"
target "next route, 100,000 agents (in process)" "≤ 1,000 µs" "${book_100k} µs" "$(at_most "$book_100k" 1000)"
say ""
say "## What-if simulator: 100,000 calls, one policy per run (in process)"
say '```'
simulate_output=$($bin/SwitchboardBench simulate 100000)
echo "$simulate_output" | tee -a "$out"
say '```'
simulate_seconds=$(echo "$simulate_output" | awk '$1 == "formula" {print $3}')
target "simulate 100,000 calls (one policy)" "≤ 2 s" "${simulate_seconds} s" "$(at_most "$simulate_seconds" 2)"
say ""
say "## Learning router against the formula (synthetic populations, in process)"
say '```'
$bin/SwitchboardBench learning 2000 1 | tee -a "$out"
say '```'
say ""
say "## The agents learning chooses (issue 25, §4: the last third of 1,500 calls, bar: ≥ 95 % of the best agent every seed, never below the formula)"
say '```'
$bin/SwitchboardBench quality 1500 20 2>/dev/null | tee -a "$out" || say "(not in this build)"
say '```'
say ""
say "## Capability scores that learn (issue 25, §3: agents alike overall, unlike per capability)"
say '```'
$bin/SwitchboardBench skills 1500 20 2>/dev/null | tee -a "$out" || say "(not in this build)"
say '```'
say ""
say "## Estimated waits against the waits had (what-if simulator, in process)"
say '```'
# A build from before estimated waits has no such command: say so rather than stop.
$bin/SwitchboardBench waits 2>/dev/null | tee -a "$out" || say "(not in this build)"
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
say "Ceiling: the service's HTTP server (SwitchboardServer before Vapor's responder) answering a constant \`GET /hello\` (no middleware, no database): **${ceiling} req/s** (p50 ${hello_p50} ms, p99 ${hello_p99} ms)."
say ""
say "| database | request | req/s | p50 ms | p99 ms | % of ceiling |"
say "|---|---|---:|---:|---:|---:|"

rss_lines=()
bulk_lines=()
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
  read_share=$([ $database = sqlite ] && echo 50 || echo 30)
  for row in "GET /api/teams:/api/teams" "GET /api/teams/:id:/api/teams/$team"; do
    label=${row%%:/api*}; path=/api${row#*:/api}
    read -r rps p50 p99 <<<"$(PATH_TO_GET=$path wrk_run "http://127.0.0.1:$port$path" bench/load/get_path.lua)"
    share=$(python3 -c "print(f'{100*$rps/$ceiling:.0f}')")
    say "| $database | \`$label\` | $rps | $p50 | $p99 | $share% |"
    target "\`$label\`, $database" "≥ $read_share % of the ceiling" "$share % ($rps req/s)" "$(at_least "$share" "$read_share")"
  done
  read -r rps p50 p99 <<<"$(wrk_run "$api/calls" bench/load/create_calls.lua)"
  say "| $database | \`POST /api/calls\` (claims until 60 agents × 100 are full, then queues) | $rps | $p50 | $p99 | $(python3 -c "print(f'{100*$rps/$ceiling:.0f}%')") |"
  if [ $database = sqlite ]; then
    met=$(python3 -c "print('yes' if $rps >= 4000 and $p50 <= 4 else ('partly (above the 2,000 floor)' if $rps >= 2000 else 'no'))")
    target "\`POST /api/calls\`, SQLite" "≥ 4,000 calls/s, p50 ≤ 4 ms" "$rps calls/s, p50 $p50 ms" "$met"
  else
    target "\`POST /api/calls\`, PostgreSQL" "≥ 2,000 calls/s" "$rps calls/s, p50 $p50 ms" "$(at_least "$rps" 2000)"
  fi
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
  [ $database = sqlite ] && target "create + complete alternating, SQLite" "≥ 3,000 operations/s" "$rps operations/s" "$(at_least "$rps" 3000)"
  # A 5,000-agent import in one request (JSON, 0.6 MB), then the same file again: every row an update.
  python3 -c 'import json, sys; print(json.dumps({"agents": [{"external_id": f"hr-{i:05}", "name": f"Imported Agent {i}", "sector": f"s{i % 7}", "capabilities": ["french", "billing"], "max_concurrent": 5, "priority": 1 + i % 10} for i in range(5000)]}))' >"$workdir/agents.json"
  for pass in "creates 5,000" "updates 5,000"; do
    seconds=$(curl -sf -o /dev/null -w '%{time_total}' "${H[@]}" --data-binary @"$workdir/agents.json" "$api/agents/bulk" || echo failed)
    bulk_lines+=("| $database | $pass | $seconds s |")
    [ $database = sqlite ] && [ "$pass" = "creates 5,000" ] && target "5,000 agents in one bulk request, SQLite" "≤ 2 s" "$seconds s" "$(at_most "${seconds/failed/99}" 2)"
  done
  kill $server; wait $server 2>/dev/null || true

  # Memory with 10k and 100k agents in one sector pool, after a route has loaded the pool into the cache.
  for agents in 10000 100000; do
    tenant="rss-$agents-$RANDOM"
    $bin/SwitchboardBench seed-agents $agents "$tenant" >/dev/null
    $bin/switchboard serve --port $port >>"$workdir/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
    tok=$($bin/switchboard token --client-id "$tenant" --role admin --ttl 600)
    route() {  # milliseconds as curl measured the whole request, process start-up excluded
      curl -sf -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $tok" -H "Content-Type: application/json" \
        -d '{"sector":"billing"}' "http://127.0.0.1:$port/api/routing/route" | python3 -c 'import sys; print(f"{float(sys.stdin.read())*1000:.1f}")'
    }
    first=$(route)
    second=$(route)
    rss=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' /proc/$server/status)
    rss_lines+=("| $database | $agents | $rss MB | $first ms | $second ms |")
    [ $agents = 100000 ] && target "RSS with 100,000 agents, $database" "≤ 300 MB" "$rss MB" "$(at_most "$rss" 300)"
    kill $server; wait $server 2>/dev/null || true
  done
  rm -rf "$workdir"
done

# The figure NAME in the name=value line the last of the scripts below printed.
value() { echo "$line" | grep -oE "$1=[0-9.]+" | cut -d= -f2; }

say ""
say "## The cost of a call against the cost of a read"
say ""
say "\`bench/cost.sh\`: a fresh tenant with 100 agents and 5 teams; wrk (2 threads, 16 connections, 6 s each) runs"
say "\`/health\`, \`GET /api/teams\` (from memory) and \`POST /api/calls\` in turn; the server's CPU time (user + system,"
say "from /proc) is divided by the requests each run completed."
say ""
say "| database | /health req/s | teams req/s | teams CPU µs/req | calls/s | calls p50 ms | call CPU µs | call ÷ read CPU | calls ÷ /health |"
say "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for database in sqlite postgresql; do
  line=$(PORT=18330 bench/cost.sh "$bin/switchboard" $database | tail -1)
  say "| $database | $(value health_rps) | $(value teams_rps) | $(value teams_cpu_us) | $(value calls_rps) | $(value calls_p50_ms) | $(value calls_cpu_us) | $(value cpu_ratio) | $(value calls_share_of_health)% |"
  target "a call's server CPU against a read's, $database" "≤ 2×" "$(value cpu_ratio)×" "$(at_most "$(value cpu_ratio)" 2)"
  if [ $database = sqlite ]; then
    target "\`POST /api/calls\` p50 at 16 connections, SQLite" "≤ 2 ms" "$(value calls_p50_ms) ms" "$(at_most "$(value calls_p50_ms)" 2)"
    target "calls against /health, SQLite" "≥ 60 %" "$(value calls_share_of_health) %" "$(at_least "$(value calls_share_of_health)" 60)"
  else
    target "calls against /health, PostgreSQL" "≥ 40 %" "$(value calls_share_of_health) %" "$(at_least "$(value calls_share_of_health)" 40)"
  fi
done

say ""
say "## People on the floor: offers and presence"
say ""
say "\`bench/people.sh\`: calls through their whole life in a fresh tenant of 20 agents × 100, with offers off (create,"
say "complete: two requests a call) and on (create, accept at once, complete: three); then presence changes, 200 agents"
say "each going away for a break and coming back in turn. wrk 2 threads, 16 connections, 6 s each."
say ""
say "| database | calls/s, offers off | calls/s, offers on | on ÷ off | presence changes/s | presence p50 ms |"
say "|---|---:|---:|---:|---:|---:|"
for database in sqlite postgresql; do
  line=$(PORT=18350 bench/people.sh "$bin/switchboard" $database | tail -1)
  say "| $database | $(value off_calls_per_s) | $(value on_calls_per_s) | $(value on_vs_off)% | $(value presence_per_s) | $(value presence_p50_ms) |"
  target "calls with offers on against off, $database" "≥ 80 %" "$(value on_vs_off) %" "$(at_least "$(value on_vs_off)" 80)"
  [ $database = sqlite ] && target "presence changes, SQLite" "≥ 2,000/s" "$(value presence_per_s)/s" "$(at_least "$(value presence_per_s)" 2000)"
done

say ""
say "\`bench/accept.sh\`: the accept alone. A tenant with offers on and 150 agents × 100; wrk makes offered calls for 6 s,"
say "then accepts them, each once, for 2 s; the server's CPU time is divided by the accepts. (An offered call costs"
say "create + accept + complete; for offers on to reach 80 % of off, the accept must cost about a quarter of the other two.)"
say ""
say "| database | offers made | accepts/s | accept CPU µs |"
say "|---|---:|---:|---:|"
for database in sqlite postgresql; do
  line=$(PORT=18351 bench/accept.sh "$bin/switchboard" $database | tail -1)
  say "| $database | $(value offered) | $(value accepts_per_s) | $(value accept_cpu_us) |"
done

say ""
say "## Bulk import: \`POST /api/agents/bulk\` with 5,000 rows (one request, curl's total time)"
say ""
say "| database | request | time |"
say "|---|---|---:|"
for line in "${bulk_lines[@]}"; do say "$line"; done

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
      aggregate=$(DATABASE_URL=$(scripts/start-postgres.sh switchboard_bench | tail -1) $bin/SwitchboardBench aggregate)
    else
      aggregate=$(env -u DATABASE_URL $bin/SwitchboardBench aggregate)
    fi
    echo "$aggregate" | tee -a "$out"
    say '```'
    seconds() { python3 -c "import sys; n, unit = sys.argv[1].split(); print(float(n) / (1000 if unit == 'ms' else 1))" "$1"; }
    full=$(echo "$aggregate" | awk '/^full aggregation:/ {print $3, $4}')
    incremental=$(echo "$aggregate" | awk '/^incremental, 1,000 new calls:/ {print $5, $6}')
    [ $database = sqlite ] && target "full aggregation of 1M calls, SQLite" "≤ 5 s" "$full" "$(at_most "$(seconds "$full")" 5)"
    target "incremental aggregation after 1,000 calls, $database" "≤ 100 ms" "$incremental" "$(at_most "$(seconds "$incremental")" 0.1)"
  done
  say ""
  say "## Export: 1,000,000 calls as CSV through the service's HTTP server (SQLite)"
  say '```'
  export_output=$(env -u DATABASE_URL $bin/SwitchboardBench export 1000000)
  echo "$export_output" | tee -a "$out"
  say '```'
  grew=$(echo "$export_output" | awk '/^process memory:/ {print $(NF-1)}')
  target "export of 1M calls: process growth" "a few MB" "$grew MB" "$(at_most "$grew" 8)"
fi
say ""
say "## Targets (issue: hot paths at the database's speed)"
say ""
say "Ceiling in this run: **${ceiling} req/s** (a constant \`GET /hello\` through the service's HTTP server and executor set-up)."
say ""
say "| path | target | measured | met |"
say "|---|---|---|---|"
for row in "${summary[@]}"; do IFS='|' read -r label goal measured met <<<"$row"; say "| $label | $goal | $measured | $met |"; done
mkdir -p bench/results
cp "$out" "bench/results/run-$(date -u +%Y%m%dT%H%M%SZ).md"
echo "raw results in bench/results/; merge them into docs/PERFORMANCE.md" >&2
