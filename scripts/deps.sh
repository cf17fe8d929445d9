#!/usr/bin/env bash
# Installs the Debian packages Shoal needs to build, test and benchmark.
# Idempotent: packages already present are skipped, apt-get update runs
# only when something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  lua5.4 liblua5.4-dev
  lua-cjson lua-cjson-dev
  lua-lpeg lua-lpeg-dev
  libjemalloc-dev libjemalloc2
  libssl-dev
  libsqlite3-dev
  libpq-dev postgresql
  clang libclang-rt-14-dev
  netcat-openbsd telnet procps python3
  python3-cryptography
  chromium
  prometheus
  etcd-server etcd-client
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
