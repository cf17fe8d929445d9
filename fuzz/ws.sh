#!/usr/bin/env bash
# fuzz/ws.sh [SECONDS] - builds the gate's WebSocket protocol harness
# (fuzz/fuzz_ws.c + cservice/gate_wsproto.c, linked with OpenSSL's
# libcrypto for the handshake's SHA-1) with clang
# (-fsanitize=fuzzer,address,undefined) and runs it for SECONDS (default
# 60) on a copy of the seed corpus fuzz/corpus_ws/. Exits non-zero if the
# fuzzer found a crash, a leak, a cut-dependent event or a bad handshake
# answer (the reproducer is left in the work dir, fuzz/out/ws). See
# fuzz/common.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"
fuzz_prepare ws "${1:-60}"
fuzz_build "$HERE/fuzz_ws.c" "$ROOT/cservice/gate_wsproto.c" -lcrypto
# Heads past the 8192-byte limit, so 431 is reached.
fuzz_run 12000 -dict="$HERE/ws.dict"
