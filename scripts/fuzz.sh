#!/usr/bin/env bash
# Builds the fuzz driver with libFuzzer and runs one target for SECONDS (default 600):
#
#   scripts/fuzz.sh TARGET [SECONDS] [libFuzzer options...]
#
# Targets (Sources/EngramFuzz): filter, filter-json, json, markdown, html, jsonl, manifest, backup-zip,
# backup-rows. The corpus grows in .build-fuzz/corpus/TARGET, starting from the inputs kept in
# Tests/EngramPipelineTests/Fuzz/TARGET (which the tests replay); an input that crashes or breaks an
# invariant is written to .build-fuzz/artifacts/TARGET/: fix the bug, then copy the input next to the seeds
# so that it stays a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET [SECONDS] [libFuzzer options...]}
seconds=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
[ -d "Tests/EngramPipelineTests/Fuzz/$target" ] || { echo "fuzz: unknown target '$target' (see Sources/EngramFuzz/FuzzTargets.swift)" >&2; exit 64; }
scripts/bootstrap.sh >/dev/null
swift build -c release --build-path .build-fuzz --product engram-fuzz \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DENGRAM_FUZZ -Xswiftc -use-ld=lld >&2
corpus=.build-fuzz/corpus/$target
artifacts=.build-fuzz/artifacts/$target
mkdir -p "$corpus" "$artifacts"
cp -n "Tests/EngramPipelineTests/Fuzz/$target"/* "$corpus"/ 2>/dev/null || true
SWIFT_BACKTRACE=enable=no ENGRAM_FUZZ_TARGET=$target exec .build-fuzz/release/engram-fuzz "$corpus" -max_total_time="$seconds" \
    -artifact_prefix="$artifacts/" -print_final_stats=1 -rss_limit_mb=4096 -timeout=20 -max_len=65536 "$@"
