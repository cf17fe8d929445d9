#!/usr/bin/env bash
# Installs dependencies, builds, and runs the example node: a main service
# that starts a counter service, calls it, sees a remote error, and stops.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/scripts/deps.sh"
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$ROOT/build" -j2
exec "$ROOT/build/shoal" "$ROOT/examples/hello/config.lua"
