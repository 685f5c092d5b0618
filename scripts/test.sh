#!/usr/bin/env bash
# Installs what gitiam's tests need on a fresh Debian machine, then runs them.
# This is the README's test command; `.ci/run` calls it and adds the lints.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v fcgiwrap >/dev/null || [ -x /usr/sbin/fcgiwrap ] || need_apt+=(fcgiwrap)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v gpg >/dev/null || need_apt+=(gnupg)
{ command -v ssh >/dev/null && command -v ssh-keygen >/dev/null; } || need_apt+=(openssh-client)
# The fleet tests: HAProxy in front of two replicas, curl as a client from
# another loopback address.
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
command -v curl >/dev/null || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The AWS CLI v1 (with botocore) is an independent client in the interop tests.
if ! aws --version >/dev/null 2>&1 || ! python3 -c 'import botocore' >/dev/null 2>&1; then
  echo "installing the AWS CLI (v1) and botocore with pip"
  python3 -m pip install --quiet awscli
  command -v pyenv >/dev/null && pyenv rehash || true
fi
# AWS's git remote helper (codecommit::REGION://PROFILE@REPO) in the interop tests.
if ! command -v git-remote-codecommit >/dev/null 2>&1; then
  echo "installing git-remote-codecommit with pip"
  python3 -m pip install --quiet git-remote-codecommit
  command -v pyenv >/dev/null && pyenv rehash || true
fi

# Offline checks of the packaging: the Kubernetes manifests against the
# schemas that kubernetes-validate ships (pinned, so the schemas are fixed),
# and the Dockerfile through BuildKit's parser (the `dockerfile` package).
if ! command -v kubernetes-validate >/dev/null 2>&1 || ! python3 -c 'import yaml' >/dev/null 2>&1; then
  echo "installing kubernetes-validate with pip"
  python3 -m pip install --quiet 'kubernetes-validate==1.37.0'
  command -v pyenv >/dev/null && pyenv rehash || true
fi
if ! python3 -c 'import dockerfile' >/dev/null 2>&1; then
  echo "installing dockerfile (BuildKit's Dockerfile parser) with pip"
  python3 -m pip install --quiet 'dockerfile==3.4.0'
fi

# The push-event tests' receiver verifies signatures with an independent
# Standard Webhooks implementation.
if ! python3 -c 'import standardwebhooks' >/dev/null 2>&1; then
  echo "installing standardwebhooks with pip"
  python3 -m pip install --quiet standardwebhooks
fi

cargo test --locked --all-features "$@"
