#!/usr/bin/env bash
# Long-term memory at scale (issue: long-term memory): recall p50/p95 among 100 tenants of 100,000 memories
# each (10 million memories, 384-d hash vectors), and a forget of 10,000 of them checked in the tables, on
# SQLite and then on the local PostgreSQL of scripts/postgres.sh. One tenant is remembered through the API,
# the others are interleaved copies written by SQL (see Benchmarks/engram-memory-bench/Scale.swift).
# Needs about 35 GB of free disk (one backend at a time) and 40 minutes on a 2-core machine.
# Sizes: ENGRAM_MEMBENCH_SCALE_TENANTS, ENGRAM_MEMBENCH_BIG (per tenant), ENGRAM_MEMBENCH_QUERIES.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/postgres.sh start)"
trap 'scripts/postgres.sh stop >/dev/null 2>&1 || true' EXIT
swift build -c release --product engram-memory-bench
"$(swift build -c release --show-bin-path)/engram-memory-bench" bench-data/memory-work scale
