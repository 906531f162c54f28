#!/usr/bin/env bash
# Builds the fuzz targets and runs each for RUNS executions (default 10,000,000) on its corpus,
# one after the other; a crash stops the run and leaves its input under artifacts/TARGET/.
# cargo-fuzz needs nightly features: RUSTC_BOOTSTRAP=1 lets this stable toolchain build them.
#   fuzz/run.sh [RUNS] [TARGET…]      (FUZZ_MAX_SECONDS=N also stops each target after N s)
set -euo pipefail
cd "$(dirname "$0")"
runs="${1:-10000000}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(framer decoder conversation_file config_file markdown sanitizer redactor)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
RUSTC_BOOTSTRAP=1 cargo fuzz build --sanitizer none -O
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  start=$(date +%s)
  ./target/x86_64-unknown-linux-gnu/release/"$t" -runs="$runs" -print_final_stats=1 \
    ${FUZZ_MAX_SECONDS:+-max_total_time="$FUZZ_MAX_SECONDS"} \
    -artifact_prefix="artifacts/$t/" "corpus/$t" >"logs/$t.log" 2>&1 || {
      echo "$t: CRASH after $(( $(date +%s) - start )) s; see fuzz/logs/$t.log and fuzz/artifacts/$t/"
      exit 1
    }
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$')
  echo "$t: $execs executions, no crash, $(( $(date +%s) - start )) s, corpus $(ls "corpus/$t" | wc -l) files"
done
