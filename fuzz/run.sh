#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each, one after the other, on the
# stable toolchain: `cargo fuzz build -s none` (no sanitizer, so no nightly
# flag), then each target binary with libFuzzer's options, as
# `cargo fuzz run -s none TARGET` would start it.
#
#   fuzz/run.sh SECONDS [TARGET...]     (default: every target)
#
# Corpus: fuzz/corpus/TARGET (grown, not committed) plus the committed seeds
# in fuzz/seeds/TARGET (read only). Dictionaries: fuzz/dict/TARGET.dict.
# Crashes, hangs (-timeout) and out-of-memory inputs land in
# fuzz/artifacts/TARGET/; the full libFuzzer output in fuzz/logs/TARGET.log.
# Prints one line per target: executions, exec/s, edges covered, the corpus
# libFuzzer keeps (inputs/bytes) and the result; the exit status is non-zero
# when any target found something.
#
# Environment: FUZZ_NICE (default 10) is the niceness of the runs;
# FUZZ_ARGS adds libFuzzer options.
set -uo pipefail
cd "$(dirname "$0")"

seconds="${1:?usage: fuzz/run.sh SECONDS [TARGET...]}"
shift
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi
nice_level="${FUZZ_NICE:-10}"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p logs
if ! nice -n "$nice_level" cargo fuzz build -s none >logs/build.log 2>&1; then
  echo "build failed: fuzz/logs/build.log" >&2
  exit 2
fi

bin="target/$(rustc -vV | sed -n 's/^host: //p')/release"

printf '%-20s %11s %7s %6s %14s  %s\n' target executions exec/s edges corpus result
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  seeds=()
  [ -d "seeds/$t" ] && seeds=("seeds/$t")
  dict=()
  [ -f "dict/$t.dict" ] && dict=("-dict=dict/$t.dict")
  # The binary `cargo fuzz run` would start, built once above: editing
  # the sources during a long run does not rebuild under it.
  # shellcheck disable=SC2086
  nice -n "$nice_level" "$bin/$t" "corpus/$t" "${seeds[@]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" "${dict[@]}" ${FUZZ_ARGS:-} \
    >"logs/$t.log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "logs/$t.log" | tail -1)
  # The last status line: `#N ... cov: EDGES ft: F corp: INPUTS/SIZE ...`.
  last=$(grep -E '^#[0-9]+' "logs/$t.log" | tail -1)
  edges=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    status=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "logs/$t.log" | tail -1)
    kind=$(grep -m1 -oE 'ERROR: libFuzzer: [a-z-]+|panicked at [^:]+:[0-9]+' "logs/$t.log" || echo "exit $rc")
    result="FOUND ($kind) ${artifact:+-> fuzz/$artifact}"
  fi
  printf '%-20s %11s %7s %6s %14s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${edges:-?}" "${corpus:-?}" "$result"
done
exit "$status"
