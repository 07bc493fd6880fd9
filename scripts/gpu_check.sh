#!/usr/bin/env bash
# GPU check for a lent GPU machine (never part of CI): builds the wgpu backend, runs every parity
# fixture and the quick benchmarks on the GPU, and a short data-parallel run over the GPUs found.
# Usage: scripts/gpu_check.sh [wgpu|cuda]   (cuda needs network access for burn's LLVM bundle)
# Writes everything under ${OUT:-gpu-check}/.
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-wgpu}"
out="${OUT:-gpu-check}"
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
export BURN_DEVICE="$backend"
x() { cargo run --release --quiet -p xtask --no-default-features --features "$backend" -- "$@"; }
x parity tests/fixtures/*.json > "$out/parity.txt" 2>&1 || echo "parity failed (see $out/parity.txt)"
x bench --quick --json --no-record > "$out/bench.jsonl" 2> "$out/bench.err" || echo "bench failed"
gpus=$(nvidia-smi -L 2>/dev/null | wc -l || echo 1)
[ "$gpus" -ge 2 ] && dp=2 || dp=1
x --quiet train --device "$backend" --devices "$dp" --epochs 2 --out "$out/run-dp$dp" \
  > "$out/train.txt" 2>&1 || echo "train failed (see $out/train.txt)"
tail -n 3 "$out/parity.txt" "$out/train.txt" || true
