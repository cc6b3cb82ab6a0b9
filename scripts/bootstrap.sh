#!/usr/bin/env bash
# Installs everything mixq needs to build and test on Debian 12 (bookworm),
# using apt-get, plus nvdisasm from PyPI (NVIDIA's nvidia-cuda-nvdisasm
# wheel; Debian has no package of it) for the static SASS report. Idempotent:
# packages already present are skipped, and nothing is downloaded when all of
# them are installed.
set -euo pipefail

# scripts/sass-report (ctest cuda-sass-budgets) disassembles with nvdisasm.
# The budgets are how kernels are judged without a GPU, so CI must have it:
# a failed install is an error, not a skipped test.
install_nvdisasm() {
  if command -v nvdisasm >/dev/null ||
      [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvdisasm" ]; then
    echo "bootstrap: nvdisasm already installed"
    return 0
  fi
  if python3 -m pip show nvidia-cuda-nvdisasm >/dev/null 2>&1; then
    echo "bootstrap: nvidia-cuda-nvdisasm already installed"
    return 0
  fi
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "bootstrap: error: $(command -v python3) has no pip, so" \
      "nvidia-cuda-nvdisasm cannot be installed" >&2
    return 1
  fi
  local user=()
  [ "$(id -u)" -eq 0 ] || user=(--user)
  echo "bootstrap: installing nvidia-cuda-nvdisasm (python3 -m pip)"
  # Debian's python3 is "externally managed" (PEP 668); the wheel is one
  # self-contained binary that cannot conflict with Debian's packages.
  if ! PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore \
      python3 -m pip install --quiet --disable-pip-version-check \
      ${user[@]+"${user[@]}"} nvidia-cuda-nvdisasm; then
    echo "bootstrap: error: pip install nvidia-cuda-nvdisasm failed" >&2
    return 1
  fi
}

packages=(
  build-essential cmake ninja-build git python3
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  libgtest-dev libgmock-dev nlohmann-json3-dev libsentencepiece-dev
  clang-22 libclang-rt-22-dev libxxhash-dev python3-pip
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
  install_nvdisasm
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
install_nvdisasm
