#!/usr/bin/env bash
# Fuzz every reader of untrusted input for SECONDS each (default 600), seeded from the
# repository's own fixtures and configs. Needs the nightly toolchain and cargo-fuzz
# (`cargo +nightly install cargo-fuzz`). A crash leaves its input in fuzz/artifacts/<target>/;
# minimize it (`cargo +nightly fuzz tmin <target> <file>`) and add it as a regression test.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"
[ $# -gt 0 ] && shift
targets=(mat label_png image safetensors run_config)
[ $# -gt 0 ] && targets=("$@")
fx=../tests/fixtures
seed() { # target, files...
  local t=$1; shift
  mkdir -p "corpus/$t"
  for f in "$@"; do cp -n "$f" "corpus/$t/" 2>/dev/null || true; done
}
seed mat $(find "$fx" -name '*.mat' | head -n 40)
seed label_png $(find "$fx" -name '*.png' | head -n 40)
seed image $(find "$fx" -name '*.jpg' | head -n 20) $(find "$fx" -name '*.png' | head -n 10)
seed safetensors "$fx/losses.safetensors"
seed run_config ../configs/*.toml
# no sanitizer: the readers are safe Rust; what fuzzing looks for here is panics, aborts,
# hangs and allocations the input does not justify (-rss_limit_mb, -malloc_limit_mb)
cargo +nightly fuzz build --sanitizer none -O
for t in "${targets[@]}"; do
  echo "== $t ($secs s)"
  cargo +nightly fuzz run --sanitizer none -O "$t" "corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=1536 -timeout=10 \
    -print_final_stats=1 2>&1 | tail -n 12
done
