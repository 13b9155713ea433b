#!/bin/sh
# Runs cargo-fuzz targets for SECONDS each, two at a time, niced, on stable Rust.
#   fuzz/run.sh 600 safetensors npy npz torch idx cifar sweep_inputs sweep_toml
# Each target's corpus starts from the committed seeds (tests/fixtures/seeds); crashes land in
# fuzz/artifacts/<target>/ and the logs in fuzz/logs/<target>.log. A crashing input, once
# fixed, is committed as tests/fixtures/fuzz/<target>/<name>, which tests/mutations.rs replays.
set -eu
cd "$(dirname "$0")"
seconds=$1
shift
seeds=../tests/fixtures/seeds
mkdir -p logs
prefixed() { # target mode file: the seed behind the mode byte the target dispatches on
    mkdir -p "corpus/$1"
    { printf "\\$(printf %03o "$2")"; cat "$3"; } > "corpus/$1/$2_$(basename "$3")"
}
for t in safetensors npy npz torch sweep_toml; do mkdir -p "corpus/$t" && cp "$seeds/$t"/* "corpus/$t/"; done
# The memory attacks on the pickle scanner and the expansion budget, for the fuzzer to vary.
for f in pickle_binget_copies pickle_mark_flood pickle_memoize_flood deeply_nested_pickle stride0_view deflated_storage; do
    cp "../tests/fixtures/bad/torch/$f.pt" corpus/torch/
done
for f in "$seeds"/idx/*; do prefixed idx 0 "$f"; prefixed idx 1 "$f"; done
for f in "$seeds"/idx_gz/*; do prefixed idx 2 "$f"; done
prefixed cifar 0 "$seeds/cifar10/data_batch_1.bin"
prefixed cifar 1 "$seeds/cifar100/train.bin"
prefixed sweep_inputs 0 "$seeds/accuracy_csv/table.csv"
prefixed sweep_inputs 1 "$seeds/sidecar/step_10.json"
export RUSTC_BOOTSTRAP=1 CARGO_INCREMENTAL=0
nice -n 19 cargo fuzz build
run() {
    nice -n 19 cargo fuzz run "$1" "corpus/$1" -- -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=1024 -fork=1 -ignore_crashes=1 -ignore_ooms=1 \
        -ignore_timeouts=1 > "logs/$1.log" 2>&1 || true
    # Each fork job wrote its inputs to a scratch directory of its own (tests/harness).
    rm -rf /dev/shm/maskspec-fuzz-"$1"-* "${TMPDIR:-/tmp}"/maskspec-fuzz-"$1"-*
}
while [ $# -gt 0 ]; do
    run "$1" &
    first=$!
    if [ $# -gt 1 ]; then run "$2"; shift; fi
    wait "$first"
    shift
done
