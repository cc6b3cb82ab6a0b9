#!/usr/bin/env bash
# Installs everything mixq needs to build and test on Debian 12 (bookworm),
# using apt-get only. Idempotent: packages already present are skipped, and
# nothing is downloaded when all of them are installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build git python3
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  libgtest-dev libgmock-dev nlohmann-json3-dev libsentencepiece-dev
  clang-22 libclang-rt-22-dev libxxhash-dev
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
      grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "bootstrap: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  "${missing[@]}"
