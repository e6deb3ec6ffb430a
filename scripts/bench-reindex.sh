#!/usr/bin/env bash
# Reindex benchmark (issue: operations): reindex throughput of the linux-doc collection (117,048 chunks) on
# SQLite and PostgreSQL with the hash embedder, beside the embedder alone; vector search latency before and
# during the reindex; and a MiniLM reindex of a slice (ENGRAM_REINDEX_MINILM_CHUNKS, default 2,000).
# Uses the store scripts/bench.sh builds (runs it first when missing) and the local server of
# scripts/postgres.sh. Prints the figures.
set -euo pipefail
source "$(dirname "$0")/bench-setup.sh"
swift build -c release --product engram-reindex-bench
"$(swift build -c release --show-bin-path)/engram-reindex-bench" "$store" bench-data/reindex-work
