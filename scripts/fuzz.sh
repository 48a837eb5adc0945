#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of the readers that take untrusted bytes:
#   segment      the embedded bus's segment reader (frames, damage localisation, check, index)
#   chunks       the reassembly of chunked values
#   safetensors  the checkpoint decoder
#   png          the frame decoder
#   message      strict JSON + every topic's schema (what a stage does first with a bus value)
# Usage: scripts/fuzz.sh [SECONDS per target, default 60] [TARGET…]
# Corpora grow in .fuzz/corpus/<target> (seeded from fuzz/seeds/<target>); a crash leaves its input
# in .fuzz/artifacts/<target>/ (replay it: swift run fuzz-<target> FILE). Exit 1 when any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(segment chunks safetensors png message)
export VIDEOAGENT_TOPICS=$PWD/topics

flags=(-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING)
for target in "${targets[@]}"; do
  swift build -c debug --scratch-path .build-fuzz "${flags[@]}" --product "fuzz-$target" 2>&1 | grep -E "error|Compiling|Build" >&2 || true
  [ -x ".build-fuzz/debug/fuzz-$target" ] || { echo "[fuzz] building fuzz-$target failed" >&2; exit 1; }
done

status=0
printf '%-12s %10s %8s %8s %s\n' target runs seconds corpus result
for target in "${targets[@]}"; do
  corpus=.fuzz/corpus/$target
  artifacts=.fuzz/artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  cp -n fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true
  log=.fuzz/$target.log
  asan=${ASAN_OPTIONS:-}
  # Loading the topic specs once at start-up (Yams decoding into JSONValue) leaks a few objects on
  # its error paths; LeakSanitizer's report at exit would hide real findings behind it.
  [ "$target" != message ] || asan=detect_leaks=0
  set +e
  ASAN_OPTIONS=$asan ".build-fuzz/debug/fuzz-$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1
  code=$?
  set -e
  # A crashed run has no "Done" line: the greps may find nothing, which must not end the script.
  runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' | tail -n 1 || true)
  [ -n "$runs" ] || runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -n 1 || true)
  result=ok
  if [ $code -ne 0 ]; then
    result="CRASH (exit $code): see $log and $artifacts/"
    status=1
  fi
  printf '%-12s %10s %8s %8s %s\n' "$target" "${runs:-?}" "$seconds" "$(ls "$corpus" | wc -l)" "$result"
done
exit $status
