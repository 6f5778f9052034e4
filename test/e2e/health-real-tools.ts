/**
 * What the health tasks' tests on the genuine kubeadm cluster (health-real.ts) use to look at the
 * cluster independently of kcarun: etcdctl run by hand inside a node's etcd container (a kubeadm node
 * has no etcd tool on the host, as kubeadm's docs say), the pinned etcd tools on this machine, and
 * the tasks called directly over the real SSH transport.
 */
import { expect } from 'vitest';
import { join } from 'node:path';
import { KcarunError } from '../../src/core/errors.js';
import { cacheBin } from '../../lab/real/artifacts.js';
import { ssh, type Cmd } from '../lab/lab-fixture.js';
import type { RealLab } from './real-lab-session.js';

export const P = '/etc/kubernetes/pki';
/** The etcd client files kubeadm writes; its etcd manifest mounts /etc/kubernetes/pki/etcd at the same path. */
export const TLS = { cacert: `${P}/etcd/ca.crt`, cert: `${P}/etcd/healthcheck-client.crt`, key: `${P}/etcd/healthcheck-client.key` };
/**
 * A CA etcd's certificates do not chain to (the cluster CA, copied in by wrongEtcdCa), where the etcd
 * container sees it: a path outside /etc/kubernetes/pki/etcd would fail as a missing file instead.
 */
export const WRONG_ETCD_CA = `${P}/etcd/kcarun-health-test-wrong-ca.crt`;

const CRICTL = 'crictl --runtime-endpoint unix:///run/containerd/containerd.sock';

/** The pinned etcd, etcdctl and etcdutl (3.6) of the lab's build, run on this machine. */
export const machineEtcdTool = (name: 'etcd' | 'etcdctl' | 'etcdutl'): string => join(cacheBin(), name);

export function nodeIp(lab: RealLab, node: string): string {
  const n = lab.state.nodes.find((x) => x.name === node);
  if (!n) throw new Error(`no node ${node} in the lab`);
  return n.ip;
}

/** `etcdctl ARGS` run in `node`'s etcd container (crictl exec), against `endpointNode`'s member (default its own). */
export function etcdctlIn(lab: RealLab, node: string, args: string, endpointNode = node): Promise<Cmd> {
  return ssh(
    lab.paths,
    lab.state,
    node,
    `c=$(${CRICTL} ps --name '^etcd$' -q | head -n 1) && [ -n "$c" ] && ${CRICTL} exec "$c" etcdctl --endpoints=https://${nodeIp(lab, endpointNode)}:2379 --cacert=${TLS.cacert} --cert=${TLS.cert} --key=${TLS.key} ${args}`,
  );
}

interface StatusRow {
  Endpoint: string;
  Status: { header: { member_id: string }; leader: string };
}

/** The etcd leader's node name, from etcdctl's own `endpoint status --cluster` (the member whose id is the leader id). */
export async function etcdctlLeader(lab: RealLab): Promise<string> {
  const r = await etcdctlIn(lab, 'cp1', 'endpoint status --cluster -w json');
  expect(r.rc, `etcdctl endpoint status: ${r.stderr}`).toBe(0);
  const rows = JSON.parse(r.stdout.replace(/([:[,]\s*)(\d{16,})(?=\s*[,}\]])/g, '$1"$2"')) as StatusRow[];
  const row = rows.find((x) => String(x.Status.header.member_id) === String(x.Status.leader));
  const ip = /https:\/\/([\d.]+):2379/.exec(row?.Endpoint ?? '')?.[1];
  return lab.state.nodes.find((n) => n.ip === ip)?.name ?? `none (${r.stdout})`;
}

/** Makes `node`'s member the etcd leader with `etcdctl move-leader` (only the current leader accepts it). */
export async function moveEtcdLeaderTo(lab: RealLab, node: string): Promise<void> {
  const list = await etcdctlIn(lab, 'cp1', 'member list -w json');
  const members = (JSON.parse(list.stdout.replace(/("ID":)(\d+)/g, '$1"$2"')) as { members: Array<{ ID: string; name: string }> }).members;
  const id = BigInt(members.find((m) => m.name === node)!.ID).toString(16);
  const tried: string[] = [];
  for (const n of lab.state.nodes) {
    const r = await etcdctlIn(lab, 'cp1', `move-leader ${id}`, n.name);
    if (r.rc === 0) return;
    tried.push(`${n.name}: ${r.stderr.trim().split('\n').pop()}`);
  }
  throw new Error(`etcdctl move-leader ${id} (${node}) accepted by no member: ${tried.join('; ')}`);
}

/** Copies the cluster CA to WRONG_ETCD_CA on every node, runs `fn`, and removes it again. */
export async function withWrongEtcdCa<T>(lab: RealLab, fn: () => Promise<T>): Promise<T> {
  for (const n of lab.state.nodes) expect((await ssh(lab.paths, lab.state, n.name, `cp ${P}/ca.crt ${WRONG_ETCD_CA}`)).rc).toBe(0);
  try {
    return await fn();
  } finally {
    for (const n of lab.state.nodes) await ssh(lab.paths, lab.state, n.name, `rm -f ${WRONG_ETCD_CA}`);
  }
}

/** The KcarunError `p` fails with (a success fails the test). */
export async function failure(p: Promise<unknown>): Promise<KcarunError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KcarunError);
    return err as KcarunError;
  }
  throw new Error('expected a failure, got success');
}

/** Escapes a string for a RegExp. */
export { re } from '../helpers/regex.js';
