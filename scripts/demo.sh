#!/usr/bin/env bash
# The main job on the embedded SQLite default: build, ingest this project's docs and sources, run a
# filtered hybrid search, print the evidence manifest and verify it. Run it twice: the second ingest
# skips every unchanged file.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
swift build --product engram
engram="$(swift build --show-bin-path)/engram"
export ENGRAM_STORE="sqlite:.engram/engram.sqlite"

echo "== ingest README.md, docs/ and Sources/ into $ENGRAM_STORE"
"$engram" ingest README.md docs Sources --prune

echo
echo "== search: how are filters compiled to SQL?   (filter: extension == \"swift\")"
"$engram" search "how are metadata filters compiled to SQL with bound parameters" \
    --filter 'extension == "swift"' -k 5 --manifest .engram/last-manifest.json --force

echo
echo "== evidence manifest (.engram/last-manifest.json)"
python3 -m json.tool .engram/last-manifest.json 2>/dev/null || cat .engram/last-manifest.json

echo
echo "== verify the manifest against the store"
"$engram" verify .engram/last-manifest.json
