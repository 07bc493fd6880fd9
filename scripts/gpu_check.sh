#!/usr/bin/env bash
# GPU check for a lent GPU machine (never part of CI). Two steps, because that machine reaches
# no package registry (it cannot build) and receives at most 64 MiB with the working tree:
#
#   1. here:        scripts/gpu_check.sh prepare [vulkan|wgpu]
#      builds the GPU binary (release, stripped) into .gpu/xtask and downloads the Vulkan
#      loader packages into .gl/ (both git-ignored through .git/info/exclude);
#   2. on the GPU:  scripts/gpu_check.sh          (device tool: carry [".gpu", ".gl"])
#      prints the adapter, runs every parity fixture, the headline benchmarks (inference b1,
#      training b2, b8, b32 with peak device memory) and a 2-epoch tiny run, writing all of it
#      under $OUT (default gpu-check/). Meant to take under 8 minutes of the machine's time.
#
# With cargo and a registry on the GPU machine, `scripts/gpu_check.sh build-and-run` does both.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"
backend="${2:-vulkan}"
out="${OUT:-gpu-check}"

prepare() {
  CARGO_TARGET_DIR=target/gpu cargo build --release --locked -p xtask \
    --no-default-features --features "$backend"
  mkdir -p .gpu .gl
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo '/.gl/' >> .git/info/exclude
  strip -o .gpu/xtask target/gpu/release/xtask
  echo "$backend" > .gpu/backend
  # the loader for an NVIDIA driver that ships only its ICD (device README)
  local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  mkdir -p /tmp/amd64/partial
  # shellcheck disable=SC2086
  apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 \
    libopengl0 libgl1 libglx0 libgles2)
  du -sh .gpu .gl
}

run_checks() {
  local x="$1"
  mkdir -p "$out"
  local t0=$SECONDS
  log() { echo "[$((SECONDS - t0)) s] $*" | tee -a "$out/summary.txt"; }
  nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
  "$x" doctor > "$out/doctor.txt" 2>&1 || true
  log "$(grep -m1 '^default device' "$out/doctor.txt" || echo 'no default device')"
  grep -q 'llvmpipe' "$out/doctor.txt" && log "WARNING: llvmpipe listed: check the adapter above is the GPU"
  log "parity (every fixture)"
  "$x" --quiet parity --device "$be" tests/fixtures/*.json > "$out/parity.txt" 2>&1 \
    && log "parity: PASS" || log "parity: FAIL (see parity.txt)"
  log "benchmarks"
  "$x" bench --json --no-record --runs 5 --case mtlora_r64_448_infer_b1 \
    --case mtlora_r64_448_train_b2 --case mtlora_r64_448_train_b8 \
    --case mtlora_r64_448_train_b32 > "$out/bench.jsonl" 2> "$out/bench.err" \
    && log "bench: done" || log "bench: FAIL (see bench.err)"
  log "2-epoch tiny run"
  local gpus
  gpus=$(nvidia-smi -L 2>/dev/null | wc -l || echo 1)
  local dp=1
  [ "$gpus" -ge 2 ] && dp=2
  "$x" --quiet train --device "$be" --devices "$dp" --epochs 2 --out "$out/run" \
    > "$out/train.txt" 2>&1 && log "train: done" || log "train: FAIL (see train.txt)"
  cp "$out/run/metrics.json" "$out/metrics.json" 2>/dev/null || true
  rm -rf "$out/run" # checkpoints are large; the log and metrics came back above
  log "finished"
}

case "$mode" in
  prepare) prepare ;;
  run)
    if ls .gl/*.deb >/dev/null 2>&1; then
      for f in .gl/*.deb; do dpkg -x "$f" /; done
      ldconfig
    fi
    if [ ! -e /usr/share/vulkan/icd.d/nvidia_icd.json ] && [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
      export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    fi
    be=$(cat .gpu/backend 2>/dev/null || echo "$backend")
    run_checks .gpu/xtask
    ;;
  build-and-run)
    CARGO_TARGET_DIR=target/gpu cargo build --release --locked -p xtask \
      --no-default-features --features "$backend"
    be="$backend"
    run_checks target/gpu/release/xtask
    ;;
  *) echo "usage: scripts/gpu_check.sh [prepare|run|build-and-run] [vulkan|wgpu]"; exit 2 ;;
esac
