#!/usr/bin/env bash
# People on the floor, for one build of the server on one database:
#   bench/people.sh BINARY [sqlite|postgresql]
# Calls through their whole life with offers off (create, complete) and on (create, accept at once, complete),
# each in a fresh tenant of 20 agents × 100; then presence changes, 200 agents each going away and back in turn.
# wrk 2 threads, 16 connections, SECONDS_PER_RUN (6) s each. Prints one line of name=value pairs:
#   off_calls_per_s on_calls_per_s on_vs_off presence_per_s presence_p50_ms
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
binary=$1 database=${2:-sqlite} port=${PORT:-18341} seconds=${SECONDS_PER_RUN:-6}
bench_serve "$binary" "$database" "$port" switchboard_people
tenant() {  # name agents offer_seconds -> token; prints agent ids to $workdir/agents
  local token
  token=$("$binary" token --client-id "people-$1-$RANDOM$RANDOM" --role admin --ttl 3600)
  # A build without offers refuses the setting: its offers row is then not measured.
  if [ "$3" != 0 ] && ! curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
    -d "{\"routing.offer_timeout_seconds\":$3}" "$api/settings"; then
    echo none; return
  fi
  : >"$workdir/agents"
  for i in $(seq 1 "$2"); do
    curl -sf -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
      -d "{\"name\":\"Agent $i\",\"sector\":\"billing\",\"max_concurrent\":100}" "$api/agents" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])' >>"$workdir/agents"
  done
  echo "$token"
}
run() {  # script -> "rps p50"
  local result
  result=$(wrk -t2 -c16 -d"${seconds}s" -s "$1" "$api/calls" 2>/dev/null)
  echo "$(wrk_value "$result" rps) $(wrk_value "$result" p50_ms)"
}
read -r off_rps _ <<<"$(TOKEN=$(tenant off 20 0) run bench/load/create_complete.lua)"
on_token=$(tenant on 20 60)
if [ "$on_token" = none ]; then on_rps=0; else read -r on_rps _ <<<"$(TOKEN=$on_token run bench/load/offer_accept_complete.lua)"; fi
presence_token=$(tenant presence 200 0)
read -r presence_rps presence_p50 <<<"$(TOKEN=$presence_token AGENTS=$(paste -sd, "$workdir/agents") run bench/load/presence.lua)"
python3 - "$off_rps" "$on_rps" "$presence_rps" "$presence_p50" <<'PY'
import sys
off, on, presence, p50 = map(float, sys.argv[1:])
off_calls, on_calls = off / 2, on / 3  # requests per call: create + complete; create + accept + complete
print(f"off_calls_per_s={off_calls:.0f} on_calls_per_s={on_calls:.0f} on_vs_off={100 * on_calls / max(1, off_calls):.0f}% "
      f"presence_per_s={presence:.0f} presence_p50_ms={p50:.2f}")
PY
