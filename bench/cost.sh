#!/usr/bin/env bash
# The cost of a call against the cost of a read, for one build of the server on one database:
#   bench/cost.sh BINARY [sqlite|postgresql]
# A fresh tenant with 100 agents (room for 10,000 calls, then calls queue) and 5 teams; wrk (2 threads, 16
# connections) runs /health, GET /api/teams (from memory) and POST /api/calls in turn, and the server's CPU time
# (user + system, from /proc) is divided by the requests each run completed. Prints one line of name=value pairs:
#   health_rps teams_rps teams_cpu_us calls_rps calls_p50_ms calls_cpu_us cpu_ratio calls_share_of_health
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
binary=$1 database=${2:-sqlite} port=${PORT:-18311} seconds=${SECONDS_PER_RUN:-6}
bench_serve "$binary" "$database" "$port" switchboard_cost
token=$("$binary" token --client-id "cost-$RANDOM$RANDOM" --role admin --ttl 3600)
for i in $(seq 1 100); do
  curl -sf -o /dev/null -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
    -d "{\"name\":\"Agent $i\",\"sector\":\"billing\",\"max_concurrent\":100,\"priority\":$(( i % 10 + 1 )),\"capabilities\":[\"french\"]}" "$api/agents"
done
for i in $(seq 1 5); do
  curl -sf -o /dev/null -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
    -d "{\"name\":\"Team $i\",\"sector\":\"billing\"}" "$api/teams"
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
ticks_per_second=$(getconf CLK_TCK)
run() {  # name url script -> "rps p50 cpu_us"
  local before after result requests
  before=$(cpu_ticks)
  result=$(wrk -t2 -c16 -d"${seconds}s" -s "$3" "$2" 2>/dev/null)
  after=$(cpu_ticks)
  requests=$(wrk_value "$result" requests)
  echo "$(wrk_value "$result" rps) $(wrk_value "$result" p50_ms)" \
       "$(python3 -c "print(f'{($after - $before) / $ticks_per_second / max(1, $requests) * 1e6:.0f}')")"
}
export TOKEN=$token
curl -sf -o /dev/null -H "Authorization: Bearer $token" "$api/teams"   # warm the read cache
read -r health_rps _ _ <<<"$(PATH_TO_GET=/health run health "http://127.0.0.1:$port/health" bench/load/get_path.lua)"
read -r teams_rps _ teams_cpu <<<"$(PATH_TO_GET=/api/teams run teams "$api/teams" bench/load/get_path.lua)"
read -r calls_rps calls_p50 calls_cpu <<<"$(run calls "$api/calls" bench/load/create_calls.lua)"
python3 - "$health_rps" "$teams_rps" "$teams_cpu" "$calls_rps" "$calls_p50" "$calls_cpu" <<'PY'
import sys
health, teams, teams_cpu, calls, p50, calls_cpu = map(float, sys.argv[1:])
print(f"health_rps={health:.0f} teams_rps={teams:.0f} teams_cpu_us={teams_cpu:.0f} calls_rps={calls:.0f} "
      f"calls_p50_ms={p50:.2f} calls_cpu_us={calls_cpu:.0f} cpu_ratio={calls_cpu / max(1, teams_cpu):.2f} "
      f"calls_share_of_health={100 * calls / max(1, health):.0f}%")
PY
