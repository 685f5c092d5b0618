#!/usr/bin/env python3
"""Load driver for bench/load.sh: real `git` clients against a running
`gitiam serve`, plus a flood of requests with bad credentials from another
loopback address. Bounded in time and count, loopback only; stops by itself.

Each client clones once, then loops until the deadline over: fetch, push a
new commit to its own branch (allowed), push to main (denied by policy).
Every operation's latency and outcome is recorded. At the end every allowed
push's ref is checked in the bare repository, and every denied push is
checked to have changed nothing: zero lost or half-applied pushes.

Prints a JSON summary on stdout.
"""

import argparse
import http.client
import json
import os
import socket
import ssl
import statistics
import subprocess
import threading
import time


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


class Client:
    def __init__(self, args, index, env):
        self.args = args
        self.index = index
        self.env = env
        self.work = os.path.join(args.work, f"c{index}")
        self.branch = f"refs/heads/load/c{index}"
        self.ops = []  # (op, seconds, outcome)
        self.pushed = None  # last sha the server accepted on self.branch
        self.commits = 0

    def git(self, *argv, cwd=None, timeout=300):
        cmd = [
            "git",
            "-c", "credential.helper=",
            "-c", f"credential.helper={self.args.helper}",
            "-c", "credential.useHttpPath=true",
            "-c", f"http.sslCAInfo={self.args.ca}",
            *argv,
        ]
        start = time.monotonic()
        try:
            out = subprocess.run(
                cmd, cwd=cwd or self.work, env=self.env, capture_output=True,
                timeout=timeout, text=True,
            )
            return out, time.monotonic() - start
        except subprocess.TimeoutExpired as e:
            return e, time.monotonic() - start

    def record(self, op, seconds, outcome):
        self.ops.append((op, seconds, outcome))

    def run(self, deadline):
        out, t = self.git("clone", "-q", self.args.url, self.work, cwd=self.args.work)
        ok = not isinstance(out, subprocess.TimeoutExpired) and out.returncode == 0
        self.record("clone", t, "ok" if ok else "error:" + self.tail(out))
        if not ok:
            return
        step = 0
        while time.monotonic() < deadline:
            kind = step % 3
            step += 1
            if kind == 0:
                out, t = self.git("fetch", "-q", "origin")
                self.classify("fetch", out, t, expect_ok=True)
            elif kind == 1:
                sha = self.commit()
                out, t = self.git("push", "-q", "origin", f"HEAD:{self.branch}")
                if self.classify("push", out, t, expect_ok=True):
                    self.pushed = sha
            else:
                self.commit()
                out, t = self.git("push", "-q", "origin", "HEAD:refs/heads/main")
                self.classify("push-denied", out, t, expect_ok=False)

    def commit(self):
        self.commits += 1
        path = os.path.join(self.work, f"c{self.index}.txt")
        with open(path, "a") as f:
            f.write(f"{self.commits}\n")
        subprocess.run(["git", "add", "-A"], cwd=self.work, env=self.env, check=True)
        subprocess.run(
            ["git", "commit", "-q", "-m", f"c{self.index} {self.commits}"],
            cwd=self.work, env=self.env, check=True,
        )
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=self.work, env=self.env,
            check=True, capture_output=True, text=True,
        ).stdout.strip()

    @staticmethod
    def tail(out):
        if isinstance(out, subprocess.TimeoutExpired):
            return "timeout"
        return (out.stderr or "").strip().splitlines()[-1:] and (out.stderr or "").strip().splitlines()[-1] or f"exit {out.returncode}"

    def classify(self, op, out, t, expect_ok):
        if isinstance(out, subprocess.TimeoutExpired):
            self.record(op, t, "error:timeout")
            return False
        if expect_ok:
            outcome = "ok" if out.returncode == 0 else "error:" + self.tail(out)
        elif out.returncode != 0 and "denied by policy" in out.stderr:
            outcome = "denied"
        else:
            outcome = "error:" + (self.tail(out) if out.returncode else "push to main accepted")
        self.record(op, t, outcome)
        return outcome == "ok"


def flood(args, deadline, counts, lock):
    """Requests with a wrong signature from 127.0.0.2, at most
    args.flood_rate a second and args.flood_max in all (per flooder)."""
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.check_hostname = False
    host, port = args.host, args.port
    interval = 1.0 / max(args.flood_rate, 1)
    sent = 0
    # AKID:password that cannot verify.
    import base64
    auth = base64.b64encode(f"{args.akid}:20250101T000000Z{'0' * 64}".encode()).decode()
    next_at = time.monotonic()
    while time.monotonic() < deadline and sent < args.flood_max:
        now = time.monotonic()
        if now < next_at:
            time.sleep(next_at - now)
        next_at += interval
        sent += 1
        start = time.monotonic()
        try:
            raw = socket.create_connection((host, port), timeout=10, source_address=(args.flood_source, 0))
            conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
            conn.sock = ctx.wrap_socket(raw, server_hostname=host)
            conn.request("GET", f"/v1/repos/{args.repo}/info/refs?service=git-upload-pack",
                         headers={"Authorization": f"Basic {auth}"})
            status = conn.getresponse().status
            conn.close()
            key = str(status)
        except Exception as e:  # noqa: BLE001 - counted, not raised
            key = "error:" + type(e).__name__
        with lock:
            counts[key] = counts.get(key, 0) + 1
            counts.setdefault("_latency", []).append(time.monotonic() - start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--helper", required=True)
    p.add_argument("--bare", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--akid", required=True)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--duration", type=float, default=120)
    p.add_argument("--flood-rate", type=float, default=100)
    p.add_argument("--flood-max", type=int, default=100000)
    p.add_argument("--flood-source", default="127.0.0.2")
    p.add_argument("--flood-threads", type=int, default=8)
    args = p.parse_args()

    env = dict(os.environ)
    main_before = subprocess.run(
        ["git", "rev-parse", "refs/heads/main"], cwd=args.bare,
        capture_output=True, text=True, check=True,
    ).stdout.strip()

    start = time.monotonic()
    deadline = start + args.duration
    clients = [Client(args, i, env) for i in range(args.clients)]
    threads = [threading.Thread(target=c.run, args=(deadline,)) for c in clients]
    counts, lock = {}, threading.Lock()
    # Several flooders share the rate and the count, so one slow answer
    # does not hold the flood back.
    share = argparse.Namespace(**vars(args))
    share.flood_rate = args.flood_rate / max(args.flood_threads, 1)
    share.flood_max = args.flood_max // max(args.flood_threads, 1)
    flooders = [
        threading.Thread(target=flood, args=(share, deadline, counts, lock))
        for _ in range(max(args.flood_threads, 1))
    ]
    for t in threads + flooders:
        t.start()
    for t in threads + flooders:
        t.join()
    elapsed = time.monotonic() - start

    ops = [o for c in clients for o in c.ops]
    summary = {"clients": args.clients, "seconds": round(elapsed, 1), "ops": {}}
    for op in ("clone", "fetch", "push", "push-denied"):
        mine = [o for o in ops if o[0] == op]
        good = [s for (_, s, r) in mine if r in ("ok", "denied")]
        errors = {}
        for (_, _, r) in mine:
            if r.startswith("error"):
                errors[r] = errors.get(r, 0) + 1
        summary["ops"][op] = {
            "count": len(mine),
            "per_second": round(len(mine) / elapsed, 2),
            "p50_s": percentile(good, 50),
            "p99_s": percentile(good, 99),
            "errors": errors,
        }
    latency = counts.pop("_latency", [])
    summary["flood"] = {
        "statuses": counts,
        "p50_s": percentile(latency, 50),
        "p99_s": percentile(latency, 99),
    }

    # Nothing lost, nothing half-applied.
    lost, wrong = [], []
    for c in clients:
        got = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", c.branch], cwd=args.bare,
            capture_output=True, text=True,
        ).stdout.strip() or None
        if c.pushed is not None and got != c.pushed:
            lost.append({"branch": c.branch, "expected": c.pushed, "server": got})
        if c.pushed is None and got is not None:
            wrong.append({"branch": c.branch, "server": got})
    main_after = subprocess.run(
        ["git", "rev-parse", "refs/heads/main"], cwd=args.bare,
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    fsck = subprocess.run(["git", "fsck", "--no-progress"], cwd=args.bare, capture_output=True, text=True)
    summary["verify"] = {
        "allowed_pushes_checked": sum(1 for c in clients if c.pushed is not None),
        "lost_or_stale": lost,
        "unexpected_refs": wrong,
        "main_unchanged": main_after == main_before,
        "fsck_ok": fsck.returncode == 0,
    }
    print(json.dumps(summary, indent=2))
    ok = not lost and not wrong and main_after == main_before and fsck.returncode == 0
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
