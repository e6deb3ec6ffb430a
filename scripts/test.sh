#!/usr/bin/env bash
# Builds everything and runs the whole test suite, with the services the tests need. A PostgreSQL
# server is started (scripts/postgres.sh) unless ENGRAM_POSTGRES_URL already names one, and stopped
# at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
if [ -z "${ENGRAM_POSTGRES_URL:-}" ]; then
    eval "$(scripts/postgres.sh start)"
    trap 'scripts/postgres.sh stop' EXIT
fi
swift build --build-tests
swift test --skip-build --disable-xctest
