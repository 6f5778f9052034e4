/**
 * What the real lab writes for each node before starting it: the init script that runs inside the
 * node's namespaces, the units a package install would leave (containerd.service, kubelet.service and
 * kubeadm's 10-kubeadm.conf drop-in, with the binaries in /usr/local/bin as in Kubernetes' "without a
 * package manager" install), containerd's config, /etc/hosts, /etc/resolv.conf, the load balancer.
 */
import type { RealPlan } from './plan.js';

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Folders bound over the node's view (a private copy per node, from DIR/nodes/cpN/fs/...). */
export const REAL_NODE_DIR_MOUNTS = [
  '/etc/kubernetes',
  // the binary layout's etcd files (/etc/etcd/ssl); an empty folder on kubeadm's nodes
  '/etc/etcd',
  '/etc/containerd',
  '/etc/systemd/system',
  '/etc/cni/net.d',
  '/var/lib/kubelet',
  '/var/lib/etcd',
  '/var/lib/containerd',
  '/var/lib/cni',
  '/var/lib/kcarun',
  '/var/log/pods',
  '/var/log/containers',
  '/var/backups',
  '/run/containerd',
  '/run/netns',
  '/root',
  // the controller-manager's flexvolume hostPath (DirectoryOrCreate) would otherwise be made on the machine
  '/usr/libexec/kubernetes',
] as const;
export const REAL_NODE_FILE_MOUNTS = ['/etc/hosts', '/etc/resolv.conf'] as const;

export interface NodeFilesInput {
  labDir: string;
  binDir: string;
  nodeRoot: string;
  fs: (p: string) => string;
  name: string;
  cgroupRoot: string;
  sshdConfig: string;
  logs: string;
  run: string;
  /** Units whose supervisors the init starts (each runs when its run/units/UNIT.want says started). */
  units: readonly string[];
  /**
   * The node gets its own /etc: an overlay whose lower layer is the machine's /etc and whose upper is
   * the node's fs/etc, for files that live directly in /etc (kubespray's /etc/etcd.env, /etc/ssl/etcd);
   * nothing of the machine's /etc changes, and no mount point is made on the machine for them.
   */
  ownEtc?: boolean;
}

/**
 * Runs as `unshare --mount --uts --net --fork --propagation slave -- bash init.sh`: records its pid
 * (the namespaces' holder), waits until the lab has plugged the veth in (run/net-ready), joins the
 * node's cgroup, binds the private folders, then starts sshd and the unit supervisors
 * (containerd and the kubelet; the binary layout's control plane and etcd too) and stays as the holder.
 */
export function realInitScript(n: NodeFilesInput): string {
  const binds = REAL_NODE_DIR_MOUNTS.map((m) => `mount --bind ${q(n.fs(m))} ${q(m)}`);
  const files = REAL_NODE_FILE_MOUNTS.map((m) => `mount --bind ${q(n.fs(m))} ${q(m)}`);
  const etc = n.ownEtc ? [
    `mkdir -p ${q(`${n.nodeRoot}/etc-overlay-work`)}`,
    `mount -t overlay overlay -o ${q(`lowerdir=/etc,upperdir=${n.fs('/etc')},workdir=${n.nodeRoot}/etc-overlay-work`)} /etc`,
  ] : [];
  return `#!/bin/bash
# Init of real lab node ${n.name} (inside its own mount, UTS and network namespaces).
set -euo pipefail
echo $$ > ${q(`${n.run}/holder.pid`)}
hostname ${n.name}
for i in $(seq 1 600); do [ -e ${q(`${n.run}/net-ready`)} ] && break; sleep 0.05; done
[ -e ${q(`${n.run}/net-ready`)} ] || { echo "network was not set up" >&2; exit 1; }
# every process of the node (and, through the kubelet's cgroupRoot, every container) lives under ${n.cgroupRoot}
for h in /sys/fs/cgroup/*/; do
  [ -d "\${h}${n.cgroupRoot.slice(1)}/lab-node" ] && echo $$ > "\${h}${n.cgroupRoot.slice(1)}/lab-node/cgroup.procs"
done
${[...etc, ...binds].join('\n')}
${files.join('\n')}
mount --bind ${q(n.binDir)} /usr/local/bin
${hideMachineEtcdTools(n.nodeRoot)}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f ${q(n.sshdConfig)} >> ${q(`${n.logs}/sshd.log`)} 2>&1 &
echo $! > ${q(`${n.run}/sshd.pid`)}
for unit in ${n.units.join(' ')}; do
  kcarun-lab-unit-supervisor $unit >> ${q(`${n.logs}/supervisor.log`)} 2>&1 &
done
exec sleep infinity
`;
}

/**
 * The machine's own etcd tools (Debian's etcd-server and etcd-client, 3.4, installed for the
 * emulated labs and the etcd-only layout) must not be on a real node: a kubeadm node has no etcd
 * binary on the host, so kcarun has to run etcdctl inside the etcd container there (crictl exec),
 * and a node that quietly found /usr/bin/etcdctl would test the wrong path (and the wrong version
 * against etcd 3.6). A read-only overlay on /usr/bin whose top layer holds whiteouts (character
 * devices 0/0, the overlayfs convention) hides exactly those names inside the node's mount
 * namespace; the machine's /usr/bin is not touched. The binary and kubespray layouts bring the
 * pinned etcd, etcdctl and etcdutl in /usr/local/bin, as their installs do.
 */
function hideMachineEtcdTools(nodeRoot: string): string {
  const dir = `${nodeRoot}/usr-bin-whiteouts`;
  return [
    `mkdir -p ${q(dir)}`,
    `for t in etcd etcdctl etcdutl; do [ -e ${q(dir)}/"$t" ] || mknod ${q(dir)}/"$t" c 0 0; done`,
    `mount -t overlay overlay -o ${q(`lowerdir=${dir}:/usr/bin`)} /usr/bin`,
  ].join('\n');
}

/** containerd's upstream containerd.service (without ExecStartPre=-/sbin/modprobe overlay: the lab loads no modules). */
export const CONTAINERD_UNIT = `[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target local-fs.target

[Service]
ExecStart=/usr/local/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
`;

/** kubelet.service from kubernetes/release (rpm/deb), binary path /usr/local/bin as the no-package-manager install seds it. */
export const KUBELET_UNIT = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/local/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`;

/** kubeadm's drop-in 10-kubeadm.conf (kubernetes/release), /usr/local/bin as above. */
export const KUBEADM_DROPIN = `# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`;

/**
 * containerd 2.x config (version 3). restrict_oom_score_adj: this VM lacks CAP_SYS_RESOURCE, and runc
 * fails every sandbox when it may not lower oom_score_adj. The opt and NRI plugins are disabled: they
 * would write to /opt/containerd and /var/run/nri on the machine.
 */
export function containerdConfig(pauseImage: string): string {
  return `version = 3
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.nri.v1.nri", "io.containerd.image-verifier.v1.bindir"]

[grpc]
  address = "/run/containerd/containerd.sock"

[ttrpc]
  address = "/run/containerd/containerd.sock.ttrpc"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "${pauseImage}"

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "/etc/cni/net.d"

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

/** bridge + host-local over the node's pod range (from the controller-manager), gateway on cni0. */
export function cniConfig(podCidr: string): string {
  return `${JSON.stringify({
    cniVersion: '1.0.0',
    name: 'kcarun-lab',
    plugins: [
      { type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: false, hairpinMode: true, ipam: { type: 'host-local', ranges: [[{ subnet: podCidr }]], routes: [{ dst: '0.0.0.0/0' }] } },
    ],
  }, null, 2)}\n`;
}

export function etcHostsReal(plan: RealPlan, extra: Array<{ ip: string; name: string }> = []): string {
  return ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback', ...[...plan.nodes, ...extra].map((n) => `${n.ip} ${n.name}`), `${plan.lbIp} lb`, ''].join('\n');
}

/** No DNS server runs in the lab; the bridge address answers nothing on :53 and is inside the lab's range. */
export function resolvConfReal(plan: RealPlan): string {
  return `# kcarun real lab: no DNS server; the machine's bridge address (nothing answers on :53)\nnameserver ${plan.bridgeIp}\n`;
}

/**
 * haproxy as kubeadm's HA guide (kubeadm docs/ha-considerations.md) sets it up: TCP to every
 * apiserver, its timeouts, redispatch. Two departures, both stricter: the check asks /readyz (false
 * while the apiserver's etcd is gone, where /healthz stays true) every 1 s with fall 2 / rise 1 (the
 * guide: /healthz, haproxy's 2 s / 3 / 2), so a stopped apiserver leaves the pool sooner.
 */
export function haproxyConfig(plan: RealPlan): string {
  return `# kcarun real lab: the control-plane endpoint ${plan.endpoint}
global
  log stdout format raw local0 info
  maxconn 4000

defaults
  mode tcp
  log global
  option tcplog
  option dontlognull
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  # As kubeadm's HA guide (docs/ha-considerations.md) sets it: a health check may take up to 10 s.
  # Without it a check must finish within \`inter\` (1 s below); on a loaded machine the /readyz
  # checks of every server then time out together and haproxy, with no server up, closes every new
  # connection (measured in CI, session 9: bursts of up to 9 s of "socket disconnected before TLS").
  timeout check 10s
  # As the guide sets it too: a connection refused by a server that is going away is retried once,
  # on another server.
  option redispatch
  retries 1

frontend apiserver
  bind ${plan.endpoint}
  default_backend apiservers

backend apiservers
  option httpchk
  http-check send meth GET uri /readyz
  http-check expect status 200
  default-server inter 1s fall 2 rise 1 check check-ssl verify none
${plan.nodes.map((n) => `  server ${n.name} ${n.ip}:6443`).join('\n')}
`;
}

export function lbInitScript(run: string, cfg: string, log: string): string {
  return `#!/bin/bash
# The real lab's load balancer (own network namespace): waits for its veth, then runs haproxy.
set -euo pipefail
echo $$ > ${q(`${run}/holder.pid`)}
for i in $(seq 1 600); do [ -e ${q(`${run}/net-ready`)} ] && break; sleep 0.05; done
exec haproxy -db -f ${q(cfg)} >> ${q(log)} 2>&1
`;
}
