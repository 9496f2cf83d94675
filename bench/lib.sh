# Shared by the benchmark scripts (source it from the repository's root).

command -v wrk >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

# bench_serve BINARY sqlite|postgresql PORT POSTGRES_DATABASE
# Starts `BINARY serve` on a fresh SQLite file (or the named PostgreSQL database, created if missing) with rate
# limits off, and waits for /health. Sets `workdir`, `server` (its pid) and `api`; on exit the server stops and
# the work folder goes.
bench_serve() {
  local binary=$1 database=$2 port=$3 postgres_database=$4
  workdir=$(mktemp -d)
  export SWITCHBOARD_JWT_SECRET="bench-secret-bench-secret-bench-secret-000" SWITCHBOARD_RATE_LIMIT=off LOG_LEVEL=warning
  export SWITCHBOARD_ENCRYPTION_KEY="$(head -c 32 /dev/zero | base64)" SWITCHBOARD_SQLITE_PATH="$workdir/bench.sqlite"
  if [ "$database" = postgresql ]; then
    export DATABASE_URL=$(scripts/start-postgres.sh "$postgres_database" | tail -1)
  else
    export DATABASE_URL=
  fi
  "$binary" serve --hostname 127.0.0.1 --port "$port" >"$workdir/server.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$workdir"' EXIT
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
  api="http://127.0.0.1:$port/api"
}

# wrk_value OUTPUT NAME: NAME's value in the summary the load scripts (bench/load/*.lua) print.
wrk_value() { echo "$1" | grep -oE "^$2=[0-9.]+" | cut -d= -f2; }
