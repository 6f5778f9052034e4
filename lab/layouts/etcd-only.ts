/**
 * etcd alone, as an operator hand-installs it without Kubernetes (issue 15): each member started by an
 * init script (/etc/init.d/etcd, OpenRC/SysV style: no systemd unit, no static pod) from a YAML config
 * file (`etcd --config-file /etc/etcd/etcd.conf.yml`) with separate server and peer certificates in
 * /etc/etcd/pki, an operator's client certificate beside them (etcdctl, health checks), no CA key on
 * any node, and a monitoring client (the lab's Prometheus stand-in on the first node) with its own etcd
 * CA copy and client certificate. The traffic and verify use that monitoring client's files.
 */
import { stringify } from 'yaml';
import { pool } from '../exec.js';
import { copyIntoNode, etcdInitialCluster, issueLeaf, nodeSans, writeNodeFile, type LeafSpec } from './node-pki.js';
import { renderUnit } from './render.js';
import type { LabLayout, LayoutContext } from './types.js';

const PKI = '/etc/etcd/pki';
const CONFIG = '/etc/etcd/etcd.conf.yml';
const PROM_SSL = '/etc/prometheus/ssl';

/**
 * The init script: start|stop|restart|status, the pid in /etc/etcd/etcd.pid (per node; /run is shared
 * by the lab's nodes), output appended to the node's log folder. `restart` is the custom restart
 * command a rotation must use (there is no unit to `systemctl restart`).
 */
export function etcdInitScript(logFile: string): string {
  return `#!/bin/sh
### BEGIN INIT INFO
# Provides:          etcd
# Required-Start:    $network
# Default-Start:     2 3 4 5
# Short-Description: etcd member (config: ${CONFIG})
### END INIT INFO
DAEMON=/usr/bin/etcd
CONFIG=${CONFIG}
PIDFILE=/etc/etcd/etcd.pid
LOG='${logFile}'

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  running && return 0
  setsid "$DAEMON" --config-file "$CONFIG" >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  sleep 1
  running || { echo "etcd exited at start (see $LOG)" >&2; rm -f "$PIDFILE"; return 1; }
}

stop() {
  running || { rm -f "$PIDFILE"; return 0; }
  pid=$(cat "$PIDFILE")
  kill "$pid"
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -eq 100 ] && kill -9 "$pid"
    sleep 0.1
  done
  rm -f "$PIDFILE"
}

case "$1" in
  start) start ;;
  stop) stop ;;
  restart) stop && start ;;
  status) if running; then echo "etcd is running (pid $(cat "$PIDFILE"))"; else echo "etcd is not running"; exit 3; fi ;;
  *) echo "usage: $0 {start|stop|restart|status}" >&2; exit 2 ;;
esac
`;
}

export const etcdOnlyLayout: LabLayout = {
  name: 'etcd-only',
  startUnits: [],
  startCommands: [['/etc/init.d/etcd', 'start']],
  extraMounts: ['/etc/init.d'],
  // The lab's clients use the monitoring client's files on cp1.
  etcdClient: { node: 'cp1', service: 'prometheus', files: { ca: `${PROM_SSL}/etcd-ca.crt`, cert: `${PROM_SSL}/etcd-client.crt`, key: `${PROM_SSL}/etcd-client.key` } },

  vars() {
    // What a user would write by hand for this cluster (discover is expected to find the same).
    return {
      layout: 'binary',
      etcd_ca_cert: `${PKI}/ca.crt`,
      etcd_ca_bundle: `${PKI}/ca-bundle.crt`,
      etcd_config: CONFIG,
      etcd_trust_in: 'etcd-config',
      etcd_probe_cert: `${PKI}/etcdctl.crt`,
      etcd_probe_key: `${PKI}/etcdctl.key`,
      etcd_data_dir: '/var/lib/etcd',
      prometheus_host: 'cp1',
      prometheus_config: '/etc/prometheus/prometheus.yml',
      prometheus_ssl_dir: PROM_SSL,
    };
  },

  async writeNode(ctx: LayoutContext): Promise<void> {
    const { node, cas, nodes } = ctx;
    await copyIntoNode(ctx, cas.etcd.certFile, `${PKI}/ca.crt`, 0o644);
    const sans = nodeSans(node);
    const leaves: LeafSpec[] = [
      { cert: `${PKI}/server.crt`, key: `${PKI}/server.key`, subject: [['CN', `${node.name}-server`]], usage: 'peer', issuer: cas.etcd, ...sans },
      { cert: `${PKI}/peer.crt`, key: `${PKI}/peer.key`, subject: [['CN', `${node.name}-peer`]], usage: 'peer', issuer: cas.etcd, ...sans },
      { cert: `${PKI}/etcdctl.crt`, key: `${PKI}/etcdctl.key`, subject: [['CN', 'etcdctl']], usage: 'client', issuer: cas.etcd },
    ];
    await pool(2, leaves.map((l) => () => issueLeaf(ctx, l)));
    await writeNodeFile(ctx, CONFIG, stringify({
      'name': node.name,
      'data-dir': '/var/lib/etcd',
      'listen-peer-urls': `https://${node.ip}:2380`,
      'listen-client-urls': `https://${node.ip}:2379`,
      'initial-advertise-peer-urls': `https://${node.ip}:2380`,
      'advertise-client-urls': `https://${node.ip}:2379`,
      'initial-cluster': etcdInitialCluster(nodes),
      'initial-cluster-token': 'etcd-only-lab',
      'initial-cluster-state': 'new',
      'heartbeat-interval': 250,
      'election-timeout': 2500,
      // A config file starts from etcd's zero values, not its flag defaults: the JSON gateway is off unless named.
      'enable-grpc-gateway': true,
      'client-transport-security': { 'cert-file': `${PKI}/server.crt`, 'key-file': `${PKI}/server.key`, 'client-cert-auth': true, 'trusted-ca-file': `${PKI}/ca.crt` },
      'peer-transport-security': { 'cert-file': `${PKI}/peer.crt`, 'key-file': `${PKI}/peer.key`, 'client-cert-auth': true, 'trusted-ca-file': `${PKI}/ca.crt` },
    }));
    await writeNodeFile(ctx, '/etc/init.d/etcd', etcdInitScript(`${ctx.nodePaths.logs}/etcd.log`), 0o755);
    if (node.index === 1) {
      // The monitoring client: its own copy of the etcd CA and its own client certificate.
      await copyIntoNode(ctx, cas.etcd.certFile, `${PROM_SSL}/etcd-ca.crt`, 0o644);
      await issueLeaf(ctx, { cert: `${PROM_SSL}/etcd-client.crt`, key: `${PROM_SSL}/etcd-client.key`, subject: [['CN', 'prometheus-etcd-client']], usage: 'client', issuer: cas.etcd });
      await writeNodeFile(ctx, '/etc/prometheus/prometheus.yml', stringify({
        global: { scrape_interval: '1s' },
        scrape_configs: [{
          job_name: 'etcd',
          scheme: 'https',
          tls_config: { ca_file: `${PROM_SSL}/etcd-ca.crt`, cert_file: `${PROM_SSL}/etcd-client.crt`, key_file: `${PROM_SSL}/etcd-client.key` },
          static_configs: [{ targets: nodes.map((n) => `${n.ip}:2379`) }],
        }],
      }));
      await writeNodeFile(ctx, '/etc/systemd/system/prometheus.service', renderUnit('Prometheus', ['/usr/local/bin/prometheus', '--config.file=/etc/prometheus/prometheus.yml']));
    }
  },
};
