#!/usr/bin/env bash
# Benchmark: ingest Debian's linux-doc-6.1 (thousands of real text and HTML files) into SQLite with the
# hash embedder, re-ingest it unchanged, measure search latency with and without a ~1% filter, and
# compare exact search with numpy's X @ q on the same vectors. Prints the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
data=bench-data
mkdir -p "$data"
if [ ! -d "$data/linux-doc/usr/share/doc/linux-doc-6.1/html" ]; then
    ( cd "$data" && rm -f linux-doc-6.1_*.deb && apt-get download linux-doc-6.1 >/dev/null 2>&1 || { apt-get update -qq && apt-get download linux-doc-6.1; } )
    dpkg-deb -x "$data"/linux-doc-6.1_*.deb "$data/linux-doc"
fi
python3 -c "import numpy" 2>/dev/null || pip install -q numpy
swift build -c release --product engram-bench
"$(swift build -c release --show-bin-path)/engram-bench" "$data/linux-doc/usr/share/doc/linux-doc-6.1/html" "$data/work" "${1:-200}"
