#!/usr/bin/env bash
# Runs a fuzz target (default: request_parser) for SECONDS (default 600) on the stable
# toolchain. cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 enables them on stable.
# Install once with: cargo install cargo-fuzz --locked
set -euo pipefail
cd "$(dirname "$0")"
target=${1:-request_parser}
seconds=${2:-600}
mkdir -p "corpus/$target"
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
  -max_total_time="$seconds" -max_len=4096 -print_final_stats=1
