#!/bin/bash
# Builds the libFuzzer targets (clang, AddressSanitizer and UBSan, in
# build-fuzz/) and runs each for SECONDS (default 60) from its seeds in
# tests/fuzz/corpus/NAME. What a run finds new stays in build-fuzz/corpus;
# a crash leaves its input in build-fuzz/crashes/ and fails the run: commit
# that input to the seeds with the fix, so it stays a regression case.
#
#   tests/fuzz/run.sh [SECONDS]
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
ROOT=$(tf_root)
SECONDS_EACH=${1:-60}
TARGETS="fnzip base64 upload psk_keys coap_request http_request state hproto"

TINYFAAS_PACKAGES="clang libclang-rt-14-dev $TINYFAAS_PACKAGES" tf_install_packages
CC=clang tf_build build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
BUILD=$ROOT/build-fuzz
mkdir -p "$BUILD/crashes"
failed=0
for t in $TARGETS; do
    mkdir -p "$BUILD/corpus/$t"
    if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -artifact_prefix="$BUILD/crashes/$t-" "$BUILD/corpus/$t" "$ROOT/tests/fuzz/corpus/$t" \
        > "$BUILD/fuzz_$t.log" 2>&1; then
        tf_say "fuzz_$t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$BUILD/fuzz_$t.log" | grep -o '[0-9]*$') runs in ${SECONDS_EACH} s, no crash"
    else
        tf_say "fuzz_$t found a crash; the end of $BUILD/fuzz_$t.log:"
        tail -n 40 "$BUILD/fuzz_$t.log" >&2
        failed=1
    fi
done
exit $failed
