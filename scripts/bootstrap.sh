#!/usr/bin/env bash
# Installs the system packages Engram builds against (Debian: SQLite's headers, OpenBLAS) and the
# MiniLM model files (scripts/install-model.sh). Safe to run repeatedly.
set -euo pipefail

need=()
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need+=(libsqlite3-dev)
dpkg -s libopenblas-dev >/dev/null 2>&1 || need+=(libopenblas-dev)
if ((${#need[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
command -v swift >/dev/null || { echo "bootstrap: swift is not on PATH (Swift 6.1 or later is required)" >&2; exit 1; }
"$(dirname "$0")/install-model.sh"
