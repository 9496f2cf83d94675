#!/usr/bin/env bash
# The server's CPU time for accepting an offer, alone, for one build of the server on one database:
#   bench/accept.sh BINARY [sqlite|postgresql]
# A tenant with offers on (300 s) and 150 agents × 100 lines: wrk makes offered calls for 6 s, then accepts the
# offers it made, each once, for 2 s (wrk 2 threads, 16 connections); the server's CPU time (user + system, from
# /proc) is divided by the accepts. Prints one line: offered accepts accepts_per_s accept_cpu_us
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
binary=$1 database=${2:-sqlite} port=${PORT:-18351}
bench_serve "$binary" "$database" "$port" switchboard_accept
token=$("$binary" token --client-id "accept-$RANDOM$RANDOM" --role admin --ttl 3600)
curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
  -d '{"routing.offer_timeout_seconds":300}' "$api/settings"
for i in $(seq 1 150); do
  curl -sf -o /dev/null -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
    -d "{\"name\":\"Agent $i\",\"sector\":\"billing\",\"max_concurrent\":100}" "$api/agents"
done
export TOKEN=$token
wrk -t2 -c16 -d6s -s bench/load/create_calls.lua "$api/calls" >/dev/null 2>&1
python3 - "$api" "$token" >"$workdir/offered" <<'PY'
import json, sys, urllib.request
api, token = sys.argv[1:]
offset = 0
while True:
    request = urllib.request.Request(f"{api}/calls?status=offered&limit=500&offset={offset}",
                                     headers={"Authorization": f"Bearer {token}"})
    page = json.load(urllib.request.urlopen(request))["data"]
    for call in page:
        print(call["id"])
    if len(page) < 500:
        break
    offset += 500
PY
offered=$(wc -l <"$workdir/offered")
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
before=$(cpu_ticks)
result=$(IDS="$workdir/offered" wrk -t2 -c16 -d2s -s bench/load/accept_listed.lua "$api/calls" 2>/dev/null)
after=$(cpu_ticks)
accepts=$(wrk_value "$result" requests)
if [ "$accepts" -ge "$offered" ]; then echo "accept.sh: $accepts accepts of $offered offers (some replayed): lower -d" >&2; fi
python3 - "$offered" "$accepts" "$(wrk_value "$result" rps)" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import sys
offered, accepts, rps, before, after, ticks = map(float, sys.argv[1:])
print(f"offered={offered:.0f} accepts={accepts:.0f} accepts_per_s={rps:.0f} "
      f"accept_cpu_us={(after - before) / ticks / max(1, accepts) * 1e6:.0f}")
PY
