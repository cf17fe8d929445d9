#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite (unit, Lua
# service and end-to-end tests). Ends with ctest's summary line.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/scripts/deps.sh"
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$ROOT/build" -j2
cd "$ROOT/build"
ctest --output-on-failure -j2 "$@"
