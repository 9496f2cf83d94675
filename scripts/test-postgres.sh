#!/usr/bin/env bash
# Runs the whole suite against a fresh local PostgreSQL database.
set -euo pipefail
cd "$(dirname "$0")/.."
url=$(scripts/start-postgres.sh switchboard_test | tail -1)
SWITCHBOARD_TEST_DATABASE_URL="$url" swift test "$@"
