#!/usr/bin/env bash
# config_keys.sh [SHOAL_BINARY] - writes the config schema (core/config_keys.h,
# printed by `shoal --config-keys`) into README.md between its markers.
# test/e2e/test_config.py fails when the two drift.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SHOAL="${1:-$ROOT/build/shoal}"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
"$SHOAL" --config-keys > "$table"
python3 - "$ROOT/README.md" "$table" <<'PY'
import sys
readme, table = sys.argv[1], open(sys.argv[2]).read()
text = open(readme).read()
begin, end = "<!-- config-keys: begin -->\n", "<!-- config-keys: end -->"
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(readme, "w").write(head + begin + table + end + tail)
PY
