#!/bin/sh
# Bench-only dependencies: what the benchmarks compare kcarun against. Not part of
# scripts/install-deps.sh on purpose: CI and users never need Ansible.
# Installs only what is missing; needs root (apt-get) when something is.
set -eu
need=""
command -v ansible-playbook >/dev/null 2>&1 || need="$need ansible-core"
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v ssh >/dev/null 2>&1 || need="$need openssh-client"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
[ -x /usr/bin/time ] || need="$need time"
if [ -n "$need" ]; then
  echo "bench: installing$need" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need >&2
fi
