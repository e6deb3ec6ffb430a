#!/usr/bin/env bash
# Backup and restore benchmark (issue: operations): engram backup and restore of the linux-doc collection
# (117,048 chunks with vectors) on SQLite and PostgreSQL, beside VACUUM INTO and pg_dump. Uses the store
# scripts/bench.sh builds (runs it first when missing) and the local server of scripts/postgres.sh.
set -euo pipefail
source "$(dirname "$0")/bench-setup.sh"
swift build -c release --product engram-backup-bench
"$(swift build -c release --show-bin-path)/engram-backup-bench" "$store" bench-data/backup-work
