#!/usr/bin/env bash
# Benchmarks `gitiam serve` (embedded git http-backend, TLS, SigV4 + IAM on
# every request) against the direct path: nginx + fcgiwrap + git
# http-backend over TLS with basic auth, on the same machine and the same
# bare repositories. Reports (Markdown on stdout; details in $OUT):
#   - clone and push of a generated repository of SIZE_MB (hyperfine),
#   - wrk on info/refs through both, and on a request gitiam refuses after
#     authentication and authorization (no backend: the proxy's own cost),
#   - the policy decision time from gitiam's /metrics,
#   - gitiam's peak RSS, also during CONCURRENT simultaneous clones.
# Needs: cargo, git, nginx, fcgiwrap, openssl, hyperfine, wrk.
# Usage: bench/proxy.sh   (env: SIZE_MB=200 RUNS=3 CONCURRENT=50 SMALL_MB=10 WRK_SECS=10,
#        SKIP_BUILD=1 to use target/release as is, KEEP=1 to keep the work folder)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE_MB=${SIZE_MB:-200}
RUNS=${RUNS:-3}
CONCURRENT=${CONCURRENT:-50}
SMALL_MB=${SMALL_MB:-10}
WRK_SECS=${WRK_SECS:-10}
ACCOUNT=111122223333
AKID=AKIABENCH00000000001
SECRET=bench-secret-0123456789abcdefghij
NOBODY_AKID=AKIABENCHNOBODY00001
NOBODY_SECRET=nobody-secret-0123456789abcdefgh
NG_USER=bench
NG_PASS=bench-password

for tool in git nginx fcgiwrap openssl hyperfine wrk; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "missing: $tool" >&2; exit 1; }
done
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
BIN=$ROOT/target/release

W=$(mktemp -d /tmp/gitiam-bench.XXXXXX)
OUT=${OUT:-$W/results}
mkdir -p "$OUT"
PIDS=()
cleanup() {
  # fcgiwrap -c N forks workers that outlive their parent: stop children first.
  for p in "${PIDS[@]}"; do pkill -TERM -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
unset GIT_SSL_CAINFO
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

echo "generating a ${SIZE_MB} MB repository and a ${SMALL_MB} MB one in $W" >&2
make_repo() { # dir size_mb
  mkdir -p "$1" && git -C "$1" init -q -b main
  local files=$(( $2 / 5 )); [ "$files" -ge 1 ] || files=1
  for i in $(seq 1 "$files"); do
    head -c 5M /dev/urandom > "$1/blob$i.bin"
    if [ $(( i % 4 )) -eq 0 ] || [ "$i" -eq "$files" ]; then
      git -C "$1" add -A && git -C "$1" commit -q -m "commit $i"
    fi
  done
  git -C "$1" repack -q -a -d
}
make_repo "$W/src-big" "$SIZE_MB"
make_repo "$W/src-small" "$SMALL_MB"
mkdir -p "$W/repos/$ACCOUNT"
git clone -q --bare "$W/src-big" "$W/repos/$ACCOUNT/big.git"
git clone -q --bare "$W/src-small" "$W/repos/$ACCOUNT/small.git"

# gitiam
mkdir -p "$W/gw/policies"
cat > "$W/gw/policies/all.json" <<'JSON'
{"Version":"2012-10-17","Statement":[
 {"Sid":"PullPush","Effect":"Allow","Action":["codecommit:GitPull","codecommit:GitPush"],"Resource":"arn:aws:codecommit:us-east-1:111122223333:*"},
 {"Sid":"DenyMain","Effect":"Deny","Action":"codecommit:GitPush","Resource":"*",
  "Condition":{"StringEqualsIfExists":{"codecommit:References":["refs/heads/protected"]},"Null":{"codecommit:References":"false"}}}]}
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
name = "bench"
policies = ["policies/all.json"]
access_keys = [{ id = "$AKID", secret = "$SECRET" }]
[[accounts.users]]
name = "nobody"
access_keys = [{ id = "$NOBODY_AKID", secret = "$NOBODY_SECRET" }]
TOML
GITIAM_LOG=warn "$BIN/gitiam" serve --config "$W/gw/gitiam.toml" --listen 127.0.0.1:0 > "$W/gw/stdout" 2> "$W/gw/stderr" &
GW_PID=$!
PIDS+=("$GW_PID")
for _ in $(seq 1 200); do grep -q listening "$W/gw/stdout" 2>/dev/null && break; sleep 0.05; done
GW_PORT=$(sed -n 's/^listening on https:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$W/gw/stdout")
CERT=$W/gw/.gitiam/tls/cert.pem
KEY=$W/gw/.gitiam/tls/key.pem

# nginx + fcgiwrap + git http-backend, TLS with the same certificate, basic auth
N=$W/nginx
mkdir -p "$N/tmp/body" "$N/tmp/fastcgi" "$N/tmp/proxy" "$N/tmp/uwsgi" "$N/tmp/scgi"
FCGI=/usr/sbin/fcgiwrap; [ -x "$FCGI" ] || FCGI=fcgiwrap
NGINX=/usr/sbin/nginx; [ -x "$NGINX" ] || NGINX=nginx
"$FCGI" -c 8 -s "unix:$N/fcgi.sock" > /dev/null 2> "$N/fcgiwrap.log" &
PIDS+=("$!")
for _ in $(seq 1 100); do [ -S "$N/fcgi.sock" ] && break; sleep 0.05; done
echo "$NG_USER:$(openssl passwd -apr1 "$NG_PASS")" > "$N/htpasswd"
NG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
USER_LINE=""; [ "$(id -u)" = 0 ] && USER_LINE="user root root;"
cat > "$N/nginx.conf" <<CONF
$USER_LINE
daemon off;
worker_processes 2;
pid $N/nginx.pid;
error_log $N/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $N/tmp/body; fastcgi_temp_path $N/tmp/fastcgi; proxy_temp_path $N/tmp/proxy;
  uwsgi_temp_path $N/tmp/uwsgi; scgi_temp_path $N/tmp/scgi;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$NG_PORT ssl http2;
    ssl_certificate $CERT; ssl_certificate_key $KEY;
    location / {
      auth_basic "git"; auth_basic_user_file $N/htpasswd;
      include /etc/nginx/fastcgi_params;
      fastcgi_param REMOTE_USER \$remote_user;
      fastcgi_param SCRIPT_FILENAME $(git --exec-path)/git-http-backend;
      fastcgi_param GIT_PROJECT_ROOT $W/repos/$ACCOUNT;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO \$uri;
      fastcgi_read_timeout 600s;
      fastcgi_pass unix:$N/fcgi.sock;
    }
  }
}
CONF
"$NGINX" -p "$N" -c "$N/nginx.conf" 2> "$N/nginx.stderr" &
PIDS+=("$!")
for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$NG_PORT) 2>/dev/null && break; sleep 0.05; done

GW=https://127.0.0.1:$GW_PORT/v1/repos
NG=https://$NG_USER:$NG_PASS@127.0.0.1:$NG_PORT
export AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET AWS_REGION=us-east-1
export AWS_CONFIG_FILE=$W/none AWS_SHARED_CREDENTIALS_FILE=$W/none
GIT_GW="git -c http.sslCAInfo=$CERT -c credential.useHttpPath=true -c credential.helper=$BIN/git-credential-gitiam"
GIT_NG="git -c http.sslCAInfo=$CERT"
rss() { awk '/VmHWM/ {print $2}' "/proc/$GW_PID/status"; }

echo "clone of ${SIZE_MB} MB" >&2
hyperfine --runs "$RUNS" --warmup 1 --prepare "rm -rf $W/c" \
  -n gitiam "$GIT_GW clone -q --bare $GW/big $W/c" \
  -n nginx "$GIT_NG clone -q --bare $NG/big.git $W/c" \
  --export-markdown "$OUT/clone.md" --export-json "$OUT/clone.json" >&2
RSS_CLONE=$(rss)

echo "push of ${SIZE_MB} MB" >&2
hyperfine --runs "$RUNS" \
  --prepare "rm -rf $W/repos/$ACCOUNT/pushed.git && git init -q --bare $W/repos/$ACCOUNT/pushed.git" \
  -n gitiam "$GIT_GW -C $W/src-big push -q $GW/pushed main" \
  -n nginx "$GIT_NG -C $W/src-big push -q $NG/pushed.git main" \
  --export-markdown "$OUT/push.md" --export-json "$OUT/push.json" >&2
RSS_PUSH=$(rss)

basic() { printf '%s:%s' "$1" "$2" | base64 -w0; }
sign() { # akid secret -> a Git password for the small repository
  printf 'protocol=https\nhost=127.0.0.1:%s\npath=v1/repos/small\n\n' "$GW_PORT" |
    AWS_ACCESS_KEY_ID=$1 AWS_SECRET_ACCESS_KEY=$2 "$BIN/git-credential-gitiam" get |
    sed -n 's/^password=//p'
}
PW=$(sign "$AKID" "$SECRET")
NOBODY_PW=$(sign "$NOBODY_AKID" "$NOBODY_SECRET")
Q="info/refs?service=git-upload-pack"
echo "wrk on info/refs" >&2
wrk -t2 -c50 -d"${WRK_SECS}s" -H "Authorization: Basic $(basic "$AKID" "$PW")" "$GW/small/$Q" > "$OUT/wrk-gitiam.txt"
wrk -t2 -c50 -d"${WRK_SECS}s" -H "Authorization: Basic $(basic "$NG_USER" "$NG_PASS")" "https://127.0.0.1:$NG_PORT/small.git/$Q" > "$OUT/wrk-nginx.txt"
wrk -t2 -c50 -d"${WRK_SECS}s" -H "Authorization: Basic $(basic "$NOBODY_AKID" "$NOBODY_PW")" "$GW/small/$Q" > "$OUT/wrk-gitiam-denied.txt"
metrics() {
  python3 - "$GW_PORT" "$CERT" <<'PY'
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
print(urllib.request.urlopen(f"https://127.0.0.1:{sys.argv[1]}/metrics", context=ctx).read().decode())
PY
}
metrics > "$OUT/metrics-after-wrk.txt"

echo "$CONCURRENT concurrent clones of ${SMALL_MB} MB" >&2
start=$(date +%s.%N)
CC=()
for i in $(seq 1 "$CONCURRENT"); do
  $GIT_GW clone -q --bare "$GW/small" "$W/cc$i" > /dev/null 2>&1 &
  CC+=("$!")
done
fail=0
for p in "${CC[@]}"; do wait "$p" || fail=$((fail + 1)); done
end=$(date +%s.%N)
RSS_CONC=$(rss)
metrics > "$OUT/metrics.txt"

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
ratio() {
  python3 -c 'import json,sys; r={x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}; print("%.3f" % (r["gitiam"] / r["nginx"]))' "$1"
}
decision=$(awk '/^gitiam_decision_duration_seconds_sum/ {s=$2} /^gitiam_decision_duration_seconds_count/ {c=$2} END {if (c>0) printf "%.2f", s/c*1e6}' "$OUT/metrics.txt")
elapsed=$(python3 -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$start" "$end")

echo "## Proxy results ($(date -u +%Y-%m-%d), $(nproc) CPUs, SIZE_MB=$SIZE_MB, RUNS=$RUNS)"
echo
echo "### Clone of a ${SIZE_MB} MB repository"
cat "$OUT/clone.md"
echo
echo "gitiam / nginx mean time: $(ratio "$OUT/clone.json")"
echo
echo "### Push of the same repository into an empty one"
cat "$OUT/push.md"
echo
echo "gitiam / nginx mean time: $(ratio "$OUT/push.json")"
echo
echo "### wrk -t2 -c50 -d${WRK_SECS}s on info/refs (each forwarded request runs git http-backend)"
echo "| path | requests/s |"
echo "| --- | --- |"
echo "| gitiam (authenticated, allowed, forwarded) | $(rps "$OUT/wrk-gitiam.txt") |"
echo "| nginx + fcgiwrap (basic auth) | $(rps "$OUT/wrk-nginx.txt") |"
echo "| gitiam, refused after authn + authz (no backend) | $(rps "$OUT/wrk-gitiam-denied.txt") |"
echo
echo "Mean policy decision time (gitiam_decision_duration_seconds): ${decision} µs"
echo
echo "### Memory"
echo "| gitiam peak RSS (VmHWM) | KiB |"
echo "| --- | --- |"
echo "| after the clones | $RSS_CLONE |"
echo "| after the pushes | $RSS_PUSH |"
echo "| after wrk and $CONCURRENT concurrent clones of ${SMALL_MB} MB ($fail failed, ${elapsed} s) | $RSS_CONC |"
