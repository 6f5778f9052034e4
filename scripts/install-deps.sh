#!/usr/bin/env bash
# Installs the system packages that the tests, the lab and the benchmarks use (Debian), when missing.
# Safe to run again: it only calls apt-get when a command is absent.
set -euo pipefail
need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ps >/dev/null 2>&1 || need+=(procps)
command -v sudo >/dev/null 2>&1 || need+=(sudo)
command -v patch >/dev/null 2>&1 || need+=(patch)          # tests apply dry-run diffs with patch(1)
command -v diff >/dev/null 2>&1 || need+=(diffutils)
command -v useradd >/dev/null 2>&1 || need+=(passwd)       # the become tests create a sudo user
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
command -v curl >/dev/null 2>&1 || need+=(curl)   # https probes of wait-healthy run curl on the hosts
command -v rsvg-convert >/dev/null 2>&1 || need+=(librsvg2-bin)   # test/discover/svg.test.ts renders the PKI map picture
# the real kubeadm lab (lab/real/, layout kubeadm-real): runc under containerd, the load balancer,
# the CNI plugins (bridge, host-local), and what kubeadm's preflight looks for on a node
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need+=(runc)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need+=(iptables)
command -v conntrack >/dev/null 2>&1 || [ -x /usr/sbin/conntrack ] || need+=(conntrack)
command -v ethtool >/dev/null 2>&1 || [ -x /usr/sbin/ethtool ] || need+=(ethtool)
command -v socat >/dev/null 2>&1 || need+=(socat)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing ${need[*]}; run as root or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's postinst may start a system sshd/etcd; the tests start their own on 127.0.x.y only.

# The real lab's pinned binaries and images (scripts/versions.env), built once per version set into
# /var/cache/kcarun/<hash>/ (or $KCARUN_CACHE); a no-op when they are there and answer --version.
# About 17 min cold on 2 cores; set KCARUN_SKIP_LAB_BUILD=1 to skip it.
if [ "${KCARUN_SKIP_LAB_BUILD:-}" != 1 ]; then
  PATH="$PATH:/usr/local/go/bin" bash "$(dirname "$0")/build-lab-binaries.sh"
fi
