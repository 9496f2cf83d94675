#!/usr/bin/env bash
# Installs (if needed) and starts PostgreSQL 15 on 127.0.0.1:5432, and creates a role and database.
# Prints the connection URL on its last line. Needs root (as CI and these machines have).
set -euo pipefail
DB_NAME="${1:-switchboard_test}"
DB_USER="switchboard"
DB_PASS="switchboard"

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -d /usr/lib/postgresql/15 ]; then
  echo "installing PostgreSQL from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi

if ! pg_lsclusters -h | grep -q '^15 *main'; then
  pg_createcluster 15 main >&2
fi
# Many tests run in parallel, each with its own connection pool (up to 16 connections an app): the suite's peak
# reached 389 of 400 and sometimes passed it, so that a test's request got 503 (no connection slot left).
sed -i "s/^#\?max_connections.*/max_connections = 800/" /etc/postgresql/15/main/postgresql.conf
sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" /etc/postgresql/15/main/postgresql.conf
if pg_lsclusters -h | grep '^15 *main' | grep -q online; then
  pg_ctlcluster 15 main restart >&2
else
  pg_ctlcluster 15 main start >&2
fi

for _ in $(seq 1 30); do
  su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
  sleep 0.5
done

su postgres -c "psql -qAt" >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${DB_USER}') THEN
    CREATE ROLE ${DB_USER} LOGIN CREATEDB PASSWORD '${DB_PASS}';
  END IF;
END \$\$;
ALTER ROLE ${DB_USER} CREATEDB;
DROP DATABASE IF EXISTS ${DB_NAME};
CREATE DATABASE ${DB_NAME} OWNER ${DB_USER};
SQL

echo "postgres://${DB_USER}:${DB_PASS}@127.0.0.1:5432/${DB_NAME}"
