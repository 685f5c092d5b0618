#!/usr/bin/env bash
# Clone over gitiam's SSH door versus OpenSSH's sshd running git-upload-pack,
# same machine, same repository, same ssh client; then 50 concurrent clones
# through each with the servers' peak total RSS.
#
#   bench/ssh-clone.sh            # SIZE_MB=160 RUNS=7 CONCURRENT=50
#
# Needs: git, ssh, ssh-keygen, bc, and an sshd binary: $SSHD, or /usr/sbin/sshd
# (on Debian without openssh-server: `apt-get download openssh-server libwrap0`,
# `dpkg -x` both into a folder, SSHD=that/usr/sbin/sshd and LD_LIBRARY_PATH to
# its lib folders; sshd also needs its privilege separation user `sshd` and
# /run/sshd). sshd is started as the current user with a private
# configuration on 127.0.0.1 and stopped at the end.
set -euo pipefail

SIZE_MB=${SIZE_MB:-160}
RUNS=${RUNS:-7}
CONCURRENT=${CONCURRENT:-50}
SSHD=${SSHD:-/usr/sbin/sshd}
SSHD_PORT=${SSHD_PORT:-22222}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/gitiam-ssh-bench.XXXXXX)
ME=$(id -un)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT

(cd "$ROOT" && cargo build --release --quiet --bin gitiam)
GITIAM="$ROOT/target/release/gitiam"

echo "generating a ${SIZE_MB} MB repository ..."
mkdir -p "$W/gen" "$W/repos/111122223333"
(
  cd "$W/gen" && git init -q -b main
  per=$((SIZE_MB / 4))
  for c in 1 2 3 4; do
    mkdir -p "d$c"
    for i in $(seq 1 "$per"); do head -c 1048576 /dev/urandom > "d$c/f$i.bin"; done
    git add -A && git -c user.name=b -c user.email=b@b commit -qm "c$c"
  done
)
git clone -q --bare "$W/gen" "$W/repos/111122223333/big.git"
git -C "$W/repos/111122223333/big.git" repack -adq
rm -rf "$W/gen"

ssh-keygen -q -t ed25519 -N '' -f "$W/client" -C bench
ssh-keygen -q -t ed25519 -N '' -f "$W/sshd_host_key"
cp "$W/client.pub" "$W/authorized_keys"; chmod 600 "$W/authorized_keys"
cat > "$W/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $W/sshd_host_key
PidFile $W/sshd.pid
AuthorizedKeysFile $W/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers $ME
MaxStartups 100:30:200
EOF
"$SSHD" -D -f "$W/sshd_config" -E "$W/sshd.log" & PIDS+=($!)
echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$W/sshd_host_key.pub")" > "$W/kh_sshd"

cat > "$W/allow.json" <<'EOF'
{"Version":"2012-10-17","Statement":[{"Sid":"All","Effect":"Allow","Action":["codecommit:GitPull","codecommit:GitPush"],"Resource":"*"}]}
EOF
cat > "$W/gitiam.toml" <<EOF
[server]
ssh_listen = "127.0.0.1:0"
audit = "off"
[backend]
repos = "repos"
[[accounts]]
id = "111122223333"
[[accounts.users]]
name = "bench"
policies = ["allow.json"]
ssh_keys = [{ id = "APKABENCH00000000001", public_key = "$(cat "$W/client.pub")" }]
EOF
"$GITIAM" serve --config "$W/gitiam.toml" --listen 127.0.0.1:0 > "$W/gitiam.out" 2> "$W/gitiam.err" &
GPID=$!; PIDS+=($GPID)
for _ in $(seq 1 100); do grep -q "ssh listening" "$W/gitiam.out" 2>/dev/null && break; sleep 0.1; done
GP=$(grep "ssh listening" "$W/gitiam.out" | sed 's/.*://')
echo "[127.0.0.1]:$GP $(ssh-keygen -y -f "$W/.gitiam/ssh/host_ed25519_key")" > "$W/kh_gitiam"

ssh_cmd() { echo "ssh -F /dev/null -i $W/client -o IdentitiesOnly=yes -o UserKnownHostsFile=$1 -o StrictHostKeyChecking=yes -o BatchMode=yes"; }
url() {
  case $1 in
    gitiam) echo "ssh://APKABENCH00000000001@127.0.0.1:$GP/v1/repos/big" ;;
    sshd) echo "ssh://$ME@127.0.0.1:$SSHD_PORT$W/repos/111122223333/big.git" ;;
  esac
}
kh() { [ "$1" = gitiam ] && echo "$W/kh_gitiam" || echo "$W/kh_sshd"; }

clone_once() {
  rm -rf "$W/clone.git"
  local s e
  s=$(date +%s.%N)
  GIT_SSH_COMMAND=$(ssh_cmd "$(kh "$1")") git clone -q --bare "$(url "$1")" "$W/clone.git"
  e=$(date +%s.%N)
  echo "$e - $s" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

clone_once sshd > /dev/null; clone_once gitiam > /dev/null   # warm the page cache
: > "$W/times"
for _ in $(seq 1 "$RUNS"); do
  echo "sshd $(clone_once sshd)" >> "$W/times"
  echo "gitiam $(clone_once gitiam)" >> "$W/times"
done
ms=$(grep '^sshd ' "$W/times" | awk '{print $2}' | median)
mg=$(grep '^gitiam ' "$W/times" | awk '{print $2}' | median)
echo "sequential clone of ${SIZE_MB} MB, median of $RUNS: sshd ${ms} s, gitiam ${mg} s, gitiam/sshd = $(echo "scale=2; $mg / $ms" | bc)"

# Peak total RSS of every process running EXE, sampled every 100 ms.
rss_watch() {
  local exe=$1 out=$2 max=0 t r d
  while :; do
    t=0
    for d in /proc/[0-9]*; do
      [ "$(readlink "$d/exe" 2>/dev/null)" = "$exe" ] || continue
      r=$(awk '/VmRSS/{print $2}' "$d/status" 2>/dev/null); t=$((t + ${r:-0}))
    done
    [ "$t" -gt "$max" ] && max=$t && echo "$max" > "$out"
    sleep 0.1
  done
}
concurrent() {
  local which=$1 exe=$2 s e fails=0 watcher
  rm -rf "$W/conc"; mkdir -p "$W/conc"
  rss_watch "$exe" "$W/rss.$which" & watcher=$!
  s=$(date +%s.%N)
  local clones=()
  for i in $(seq 1 "$CONCURRENT"); do
    GIT_SSH_COMMAND=$(ssh_cmd "$(kh "$which")") git clone -q --bare "$(url "$which")" "$W/conc/c$i.git" &
    clones+=($!)
  done
  for j in "${clones[@]}"; do wait "$j" || fails=$((fails + 1)); done
  e=$(date +%s.%N)
  kill "$watcher"
  echo "$CONCURRENT concurrent clones via $which: $(echo "$e - $s" | bc) s, failed $fails, peak total server RSS $(( $(cat "$W/rss.$which") / 1024 )) MiB"
  rm -rf "$W/conc"
}
concurrent gitiam "$(readlink -f "$GITIAM")"
echo "gitiam VmHWM: $(awk '/VmHWM/{print $2, $3}' /proc/$GPID/status)"
concurrent sshd "$(readlink -f "$SSHD")"
