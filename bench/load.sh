#!/usr/bin/env bash
# Load with nothing lost: CLIENTS concurrent real `git` clients against a
# release `gitiam serve` (embedded git http-backend, TLS) for DURATION
# seconds, each cloning, fetching, pushing to its own branch (allowed) and to
# main (denied by policy), plus a flood of requests with a bad signature from
# 127.0.0.2. Loopback only; bounded in time and count; stops by itself.
# At the end every allowed push's ref is verified on the server and every
# denied one is verified absent (bench/load.py); the server's peak RSS and
# its 5xx count (from the audit log) are reported.
# Needs: cargo, git, python3.
# Usage: bench/load.sh   (env: CLIENTS=200 DURATION=120 FLOOD_RATE=100,
#        FLOOD_THREADS=8, SKIP_BUILD=1 to use the binaries in BIN (default target/release) as they
#        are, KEEP=1 to keep the folder)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CLIENTS=${CLIENTS:-200}
DURATION=${DURATION:-120}
FLOOD_RATE=${FLOOD_RATE:-100}
FLOOD_THREADS=${FLOOD_THREADS:-8}
ACCOUNT=111122223333
AKID=AKIALOAD000000000001
SECRET=load-secret-0123456789abcdefghijkl

BIN=${BIN:-$ROOT/target/release}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet --bins
W=$(mktemp -d /tmp/gitiam-load.XXXXXX)
SERVER_PID=""
cleanup() {
  [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
unset GIT_SSL_CAINFO
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0
export GIT_AUTHOR_NAME=load GIT_AUTHOR_EMAIL=load@example.com
export GIT_COMMITTER_NAME=load GIT_COMMITTER_EMAIL=load@example.com

# A small repository with some history.
mkdir -p "$W/src" "$W/repos/$ACCOUNT" "$W/gw/policies" "$W/work"
git -C "$W/src" init -q -b main
for i in $(seq 1 20); do
  head -c 20000 /dev/urandom | base64 > "$W/src/file$i.txt"
  git -C "$W/src" add -A && git -C "$W/src" commit -q -m "commit $i"
done
git clone -q --bare "$W/src" "$W/repos/$ACCOUNT/demo.git"

cat > "$W/gw/policies/developers.json" <<'JSON'
{"Version":"2012-10-17","Statement":[
 {"Sid":"PullPush","Effect":"Allow","Action":["codecommit:GitPull","codecommit:GitPush"],"Resource":"arn:aws:codecommit:us-east-1:111122223333:*"},
 {"Sid":"DenyPushToMain","Effect":"Deny","Action":"codecommit:GitPush","Resource":"*",
  "Condition":{"StringEqualsIfExists":{"codecommit:References":["refs/heads/main"]},"Null":{"codecommit:References":"false"}}}]}
JSON
cat > "$W/gw/gitiam.toml" <<TOML
[server]
region = "us-east-1"
max_connections = 4096
[backend]
repos = "$W/repos"
[[accounts]]
id = "$ACCOUNT"
[[accounts.users]]
name = "load"
policies = ["policies/developers.json"]
access_keys = [{ id = "$AKID", secret = "$SECRET" }]
TOML

GITIAM_LOG=warn "$BIN/gitiam" serve --config "$W/gw/gitiam.toml" --listen 127.0.0.1:0 \
  > "$W/gw/stdout" 2> "$W/gw/stderr" &
SERVER_PID=$!
for _ in $(seq 1 200); do grep -q listening "$W/gw/stdout" 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's/^listening on https:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$W/gw/stdout")
[ -n "$PORT" ] || { cat "$W/gw/stderr" >&2; exit 1; }
echo "gitiam serve on 127.0.0.1:$PORT (pid $SERVER_PID); $CLIENTS clients for ${DURATION}s, flood ${FLOOD_RATE}/s" >&2

status=0
AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET AWS_REGION=us-east-1 \
python3 bench/load.py --url "https://127.0.0.1:$PORT/v1/repos/demo" --port "$PORT" --repo demo \
  --ca "$W/gw/.gitiam/tls/cert.pem" --helper "$BIN/git-credential-gitiam" \
  --bare "$W/repos/$ACCOUNT/demo.git" --work "$W/work" --akid "$AKID" \
  --clients "$CLIENTS" --duration "$DURATION" --flood-rate "$FLOOD_RATE" --flood-threads "$FLOOD_THREADS" \
  > "$W/summary.json" || status=$?

PEAK_RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
python3 - "$W/summary.json" "$W/gw/.gitiam/audit.jsonl" "$PEAK_RSS_KB" <<'PY'
import collections, json, sys
summary = json.load(open(sys.argv[1]))
statuses = collections.Counter()
for line in open(sys.argv[2]):
    statuses[json.loads(line)["status"]] += 1
summary["server"] = {
    "peak_rss_mib": round(int(sys.argv[3]) / 1024, 1),
    "audit_statuses": dict(sorted(statuses.items())),
    "5xx": sum(n for s, n in statuses.items() if s >= 500),
}
summary["machine"] = {"cores": __import__("os").cpu_count()}
print(json.dumps(summary, indent=2))
if summary["server"]["5xx"]:
    sys.exit(1)
PY
exit "$status"
