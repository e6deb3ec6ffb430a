#!/usr/bin/env bash
# Long-term memory benchmark (issue: long-term memory): remember throughput, recall p50/p95 in a tenant of
# 100,000 memories among 100 tenants, forget-by-subject of 10,000 and a sweep of 50,000 expired memories,
# each proved complete, on SQLite and on the local PostgreSQL of scripts/postgres.sh. Prints the figures.
# Sizes: ENGRAM_MEMBENCH_BIG, _TENANTS, _SMALL, _SWEEP, _QUERIES.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/postgres.sh start)"
trap 'scripts/postgres.sh stop >/dev/null 2>&1 || true' EXIT
swift build -c release --product engram-memory-bench
"$(swift build -c release --show-bin-path)/engram-memory-bench" bench-data/memory-work
