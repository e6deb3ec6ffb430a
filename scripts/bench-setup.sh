# Sourced by the benchmarks that read the linux-doc store and use the local PostgreSQL: sets `store`
# (building it with scripts/bench.sh when missing), starts the server of scripts/postgres.sh, exports its
# URLs, and stops it when the calling script exits.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
store=bench-data/work/bench.sqlite
[ -f "$store" ] || scripts/bench.sh 10
eval "$(scripts/postgres.sh start)"
trap 'scripts/postgres.sh stop >/dev/null 2>&1 || true' EXIT
