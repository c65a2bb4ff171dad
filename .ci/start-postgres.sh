#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on loopback for the storage tests, and print the URL.
#
#   eval "$(.ci/start-postgres.sh)"     # exports BUDGETNAS_TEST_POSTGRES_URL
#
# Needs Debian's `postgresql` package (apt-get install -y postgresql) and psycopg2-binary
# (pip install 'budgetnas[postgres]'). Idempotent: a server already answering on the port is reused.
# Env: BUDGETNAS_PG_PORT (default 55432), BUDGETNAS_PG_DIR (default /tmp/budgetnas-pg).
set -euo pipefail
PORT="${BUDGETNAS_PG_PORT:-55432}"
DIR="${BUDGETNAS_PG_DIR:-/tmp/budgetnas-pg}"
DB=budgetnas_test
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  echo "start-postgres: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin;" \
       "install them with: apt-get update && apt-get install -y postgresql" >&2
  exit 1
fi
# The server refuses to run as root: run it as the 'postgres' user when we are root.
if [ "$(id -u)" = 0 ]; then
  RUN=(runuser -u postgres --)
  USER_NAME=postgres
else
  RUN=()
  USER_NAME="$(id -un)"
fi
if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  if [ ! -f "$DIR/PG_VERSION" ]; then
    mkdir -p "$DIR"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$DIR"; fi
    "${RUN[@]}" "$BIN/initdb" -D "$DIR" -U "$USER_NAME" --auth=trust -E UTF8 >/dev/null
  fi
  "${RUN[@]}" "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off" start >/dev/null
fi
if ! "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d postgres -tAc \
     "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
  "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" "$DB"
fi
echo "export BUDGETNAS_TEST_POSTGRES_URL=postgresql+psycopg2://$USER_NAME@127.0.0.1:$PORT/$DB"
