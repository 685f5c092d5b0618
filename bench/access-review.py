#!/usr/bin/env python3
"""Generates a large gitiam configuration and times the access review tools
on it with the release binary.

The configuration: account 111122223333 with 10,000 users in 500 groups
(each user in two), 500 policy files (400 group policies, some groups
sharing them; 50 role policies; 50 trust policies) and 50 roles (10
assumable by the account's users with an external id, 20 in chains of
roles, 10 by an OIDC provider with sub/aud conditions, 10 by named users);
a second account with 100 users assuming roles across accounts.

Times, the median of RUNS (default 5) with the range, each including
loading the configuration:
- `gitiam policy simulate --config` for one user's push;
- `gitiam access who-can` for a push to one repository's main branch;
- `gitiam access diff` of the configuration against a copy where one group
  policy grants one more repository.

Usage: bench/access-review.py [RUNS]
Needs: cargo, python3. GITIAM_BENCH_NO_BUILD=1 uses the release binary as it is.
"""

import json
import os
import shutil
import subprocess
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.path.join(TARGET, "release", "gitiam")
ACCOUNT = "111122223333"
PARTNER = "444455556666"
USERS, GROUPS, GROUP_POLICIES, ROLES = 10_000, 500, 400, 50


def repo(name):
    return f"arn:aws:codecommit:us-east-1:{ACCOUNT}:{name}"


def role_arn(i):
    return f"arn:aws:iam::{ACCOUNT}:role/r{i}"


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


def group_policy(k):
    statements = [
        {"Sid": "Pull", "Effect": "Allow", "Action": "codecommit:GitPull",
         "Resource": [repo(f"team-{k}-*"), repo("shared-*")]},
        {"Sid": "Push", "Effect": "Allow", "Action": "codecommit:GitPush",
         "Resource": repo(f"team-{k}-*")},
        {"Sid": "ProtectMain", "Effect": "Deny", "Action": "codecommit:GitPush",
         "Resource": repo(f"team-{k}-*"),
         "Condition": {"StringEqualsIfExists": {"codecommit:References": ["refs/heads/main"]},
                       "Null": {"codecommit:References": "false"}}},
    ]
    if k % 10 == 0:
        statements.append({"Sid": "Releases", "Effect": "Allow", "Action": "codecommit:GitPush",
                           "Resource": repo("shared-*"),
                           "Condition": {"StringLike": {"codecommit:References": [f"refs/heads/release/{k}/*"]}}})
    if k % 40 == 0:
        statements.append({"Sid": "Assume", "Effect": "Allow", "Action": "sts:AssumeRole",
                           "Resource": [role_arn(i) for i in range(10)]})
    return doc(*statements)


def trust_policy(i):
    if i < 10:
        return doc({"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": [ACCOUNT, PARTNER]},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": f"ext-{i}"}}})
    if i < 30:
        return doc({"Sid": "Chain", "Effect": "Allow", "Principal": {"AWS": role_arn(i - 10)},
                    "Action": "sts:AssumeRole"})
    if i < 40:
        return doc({"Sid": "Ci", "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.example.test"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {"token.example.test:aud": "sts.amazonaws.com"},
                                  "StringLike": {"token.example.test:sub": f"repo:org/app-{i}:*"}}})
    users = [f"arn:aws:iam::{ACCOUNT}:user/u{i * 100 + j}" for j in range(5)]
    return doc({"Sid": "Named", "Effect": "Allow", "Principal": {"AWS": users}, "Action": "sts:AssumeRole"})


def role_policy(i):
    statements = [{"Sid": "Deploy", "Effect": "Allow", "Action": ["codecommit:GitPull", "codecommit:GitPush"],
                   "Resource": repo(f"team-{i * 8}-*")}]
    if i < 20:
        statements.append({"Sid": "Chain", "Effect": "Allow", "Action": "sts:AssumeRole",
                           "Resource": role_arn(i + 10)})
    return doc(*statements)


def write_config(directory, extra_repo=None):
    os.makedirs(os.path.join(directory, "policies"), exist_ok=True)
    os.makedirs(os.path.join(directory, "repos"), exist_ok=True)
    for k in range(GROUP_POLICIES):
        text = group_policy(k)
        if extra_repo is not None and k == 7:
            data = json.loads(text)
            data["Statement"][1]["Resource"] = [data["Statement"][1]["Resource"], repo(extra_repo)]
            text = json.dumps(data, indent=2)
        with open(os.path.join(directory, f"policies/g{k}.json"), "w") as f:
            f.write(text)
    for i in range(ROLES):
        with open(os.path.join(directory, f"policies/trust-r{i}.json"), "w") as f:
            f.write(trust_policy(i))
        with open(os.path.join(directory, f"policies/role-r{i}.json"), "w") as f:
            f.write(role_policy(i))
    partner_policy = doc({"Sid": "Assume", "Effect": "Allow", "Action": "sts:AssumeRole",
                          "Resource": f"arn:aws:iam::{ACCOUNT}:role/*"})
    lines = ['[server]', 'region = "us-east-1"', '', '[backend]', 'repos = "repos"', '',
             '[[accounts]]', f'id = "{ACCOUNT}"', '']
    for g in range(GROUPS):
        lines += ['[[accounts.groups]]', f'name = "g{g}"', f'policies = ["policies/g{g % GROUP_POLICIES}.json"]', '']
    for u in range(USERS):
        lines += ['[[accounts.users]]', f'name = "u{u}"', f'groups = ["g{u % GROUPS}", "g{(u * 7 + 3) % GROUPS}"]',
                  f'tags = {{ team = "t{u % 50}" }}', '']
    for i in range(ROLES):
        lines += ['[[accounts.roles]]', f'name = "r{i}"', f'trust_policy = "policies/trust-r{i}.json"',
                  f'policies = ["policies/role-r{i}.json"]', '']
    lines += ['[[accounts.oidc_providers]]', 'url = "https://token.example.test"',
              'client_ids = ["sts.amazonaws.com"]', 'jwks_url = "https://token.example.test/jwks"', '',
              '[[accounts]]', f'id = "{PARTNER}"', '']
    for u in range(100):
        lines += ['[[accounts.users]]', f'name = "p{u}"', 'policies = ["policies/partner.json"]', '']
    with open(os.path.join(directory, "policies/partner.json"), "w") as f:
        f.write(partner_policy)
    with open(os.path.join(directory, "gitiam.toml"), "w") as f:
        f.write("\n".join(lines))


def timed(runs, args, expect):
    """Runs the binary RUNS times; returns (median, min, max) seconds and the
    last output."""
    times = []
    out = None
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run([BIN] + args, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if out.returncode not in expect:
            sys.exit(f"{args}: exit {out.returncode}\n{out.stderr}")
    return (statistics.median(times), min(times), max(times)), out


def ms(t):
    median, low, high = t
    return f"{median * 1000:.0f} ms (range {low * 1000:.0f}-{high * 1000:.0f})"


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    if not os.environ.get("GITIAM_BENCH_NO_BUILD"):
        print("building release binary...", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "gitiam"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp()
    try:
        old, new = os.path.join(work, "old"), os.path.join(work, "new")
        write_config(old)
        write_config(new, extra_repo="payments")
        files = len(os.listdir(os.path.join(old, "policies")))
        print(f"configuration: {USERS} + 100 users, {GROUPS} groups, {ROLES} roles, {files} policy files")
        cfg = os.path.join(old, "gitiam.toml")
        t, out = timed(runs, ["policy", "simulate", "--config", cfg, "--principal",
                             f"arn:aws:iam::{ACCOUNT}:user/u1234", "--action", "codecommit:GitPush",
                             "--resource", repo("team-234-api"), "--context",
                             "codecommit:References=refs/heads/feature"], (0, 2))
        print(f"policy simulate --config: {ms(t)} ({out.stdout.splitlines()[0]})")
        t, out = timed(runs, ["access", "who-can", "--config", cfg, "--action", "codecommit:GitPush",
                             "--resource", repo("team-8-api"), "--context",
                             "codecommit:References=refs/heads/main"], (0,))
        principals = [l for l in out.stdout.splitlines() if not l.startswith(" ")]
        vias = len(out.stdout.splitlines()) - len(principals)
        print(f"access who-can: {ms(t)} ({len(principals)} principals, {vias} via lines)")
        t, out = timed(runs, ["access", "who-can", "--config", cfg, "--action", "codecommit:GitPull",
                             "--resource", repo("shared-tools")], (0,))
        principals = [l for l in out.stdout.splitlines() if not l.startswith(" ")]
        print(f"access who-can (pull, every user): {ms(t)} ({len(principals)} principals)")
        t, out = timed(runs, ["access", "diff", "--config", os.path.join(new, "gitiam.toml"),
                             "--against", cfg], (1,))
        print(f"access diff: {ms(t)} ({len(out.stdout.splitlines())} lines)")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
