#!/usr/bin/env bash
# Run-state benchmark (issue: run state), side by side in one run: checkpoint writes (p50/p99, steps/s with
# one writer and with several runs at once), storage bytes per step and resume latency for Engram on SQLite
# and PostgreSQL and for LangGraph's PostgresSaver on the same server (installed from PyPI in a
# virtualenv). Prints the figures. Sizes: ENGRAM_RUNBENCH_STEPS, _RUNS, _CHANNELS, _VALUE_BYTES.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
eval "$(scripts/postgres.sh start)"
trap 'scripts/postgres.sh stop >/dev/null 2>&1 || true' EXIT
venv=${ENGRAM_LANGGRAPH_VENV:-/tmp/engram-lg-venv}
if ! "$venv/bin/python" -c "import langgraph.checkpoint.postgres, psycopg" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "langgraph-checkpoint-postgres==3.2.0" "psycopg[binary]==3.3.9"
fi
export LANGGRAPH_PYTHON=$venv/bin/python
swift build -c release --product engram-runs-bench
"$(swift build -c release --show-bin-path)/engram-runs-bench" bench-data/runs-work
