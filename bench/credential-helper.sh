#!/usr/bin/env bash
# Times `git-credential-gitiam get` against
# `aws codecommit credential-helper --ignore-host-check get` on the same
# input with the same static credentials from the environment, and measures
# each one's peak RSS. Prints medians and the ratio.
#
# Usage: bench/credential-helper.sh [RUNS]    (default 200 for gitiam, 20 for aws)
# Needs: cargo, aws (AWS CLI v1); uses hyperfine and /usr/bin/time when
# installed (apt-get install -y hyperfine time), else a date +%s%N loop.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${1:-200}"
AWS_RUNS=$(( RUNS / 10 > 10 ? RUNS / 10 : 10 ))
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release/git-credential-gitiam"

command -v aws >/dev/null || { echo "aws (AWS CLI) is not installed" >&2; exit 1; }

echo "building release binary..." >&2
(cd "$ROOT" && cargo build --release --quiet --bin git-credential-gitiam)

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
INPUT="$WORK/input"
printf 'protocol=https\nhost=git-codecommit.us-east-1.amazonaws.com\npath=v1/repos/benchmark\n\n' >"$INPUT"

# Same static credentials for both, no shared files, no cache directory.
export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/cache"
mkdir -p "$HOME"
export AWS_ACCESS_KEY_ID=AKIAEXAMPLEBENCH0001
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_CONFIG_FILE=/nonexistent/config AWS_SHARED_CREDENTIALS_FILE=/nonexistent/credentials
unset AWS_PROFILE AWS_SESSION_TOKEN GITIAM_LOG || true

GITIAM_CMD="$BIN get < $INPUT"
AWS_CMD="aws codecommit credential-helper --ignore-host-check get < $INPUT"

# Sanity: both answer.
sh -c "$GITIAM_CMD" | grep -q '^password=' || { echo "gitiam helper gave no password" >&2; exit 1; }
sh -c "$AWS_CMD" | grep -q '^password=' || { echo "aws helper gave no password" >&2; exit 1; }

median_ms() { # reads one number (seconds) per line
  python3 -c 'import sys,statistics; v=[float(x) for x in sys.stdin if x.strip()]; print("%.3f" % (statistics.median(v)*1000))'
}

if command -v hyperfine >/dev/null; then
  hyperfine --warmup 5 --runs "$RUNS" --export-json "$WORK/gitiam.json" --style basic -n gitiam "$GITIAM_CMD" >&2
  hyperfine --warmup 2 --runs "$AWS_RUNS" --export-json "$WORK/aws.json" --style basic -n aws "$AWS_CMD" >&2
  G_MED=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.3f" % (r["median"]*1000))' "$WORK/gitiam.json")
  A_MED=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.3f" % (r["median"]*1000))' "$WORK/aws.json")
  METHOD="hyperfine $(hyperfine --version | awk '{print $2}') (shell start-up subtracted)"
else
  loop() { # $1 = command, $2 = runs
    for _ in $(seq "$2"); do
      s=$(date +%s%N); sh -c "$1" >/dev/null; e=$(date +%s%N)
      echo "$(( e - s ))e-9"
    done | python3 -c 'import sys; [print(float(eval(l))) for l in sys.stdin]'
  }
  G_MED=$(loop "$GITIAM_CMD" "$RUNS" | median_ms)
  A_MED=$(loop "$AWS_CMD" "$AWS_RUNS" | median_ms)
  METHOD="date +%s%N loop (includes sh start-up)"
fi

# Second method, no shell involved: fork/exec from Python with stdin from
# the file, as git runs a helper (wall time including process creation).
exec_median_ms() { # $1 = runs, rest = argv
  python3 - "$INPUT" "$@" <<'PY'
import statistics, subprocess, sys, time
inp, runs, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
samples = []
for _ in range(runs + 2):
    with open(inp, "rb") as f:
        t = time.perf_counter()
        subprocess.run(argv, stdin=f, stdout=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - t)
print("%.3f" % (statistics.median(samples[2:]) * 1000))
PY
}
G_EXEC=$(exec_median_ms "$RUNS" "$BIN" get)
A_EXEC=$(exec_median_ms "$AWS_RUNS" aws codecommit credential-helper --ignore-host-check get)

peak_rss_kib() { # max over 5 runs of /usr/bin/time's maximum resident set size
  local max=0 v
  for _ in 1 2 3 4 5; do
    v=$( { /usr/bin/time -v sh -c "exec $1" >/dev/null; } 2>&1 | awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}')
    (( v > max )) && max=$v
  done
  echo "$max"
}
if [ -x /usr/bin/time ]; then
  G_RSS=$(peak_rss_kib "$GITIAM_CMD")
  A_RSS=$(peak_rss_kib "$AWS_CMD")
else
  G_RSS="n/a" A_RSS="n/a"
fi

RATIO=$(python3 -c "print('%.0f' % ($A_MED / $G_MED))")
EXEC_RATIO=$(python3 -c "print('%.0f' % ($A_EXEC / $G_EXEC))")
CPU=$(awk -F: '/model name/ {sub(/^ /,"",$2); print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
echo
echo "machine:            $CPU, $(nproc) CPUs, $(uname -sr)"
echo "method:             $METHOD; gitiam $RUNS runs, aws $AWS_RUNS runs"
echo "aws version:        $(aws --version 2>&1)"
echo "gitiam median:      $G_MED ms"
echo "aws median:         $A_MED ms"
echo "speed-up (median):  ${RATIO}x"
echo "gitiam exec median: $G_EXEC ms (fork/exec from Python, no shell)"
echo "aws exec median:    $A_EXEC ms (same method)"
echo "speed-up (exec):    ${EXEC_RATIO}x"
echo "gitiam peak RSS:    $G_RSS KiB"
echo "aws peak RSS:       $A_RSS KiB"
