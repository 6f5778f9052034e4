/**
 * The real lab's addresses and names, all inside one private /16 of its own (default 10.231.0.0/16):
 *   P.0.1    the bridge's address in the machine's namespace (kcarun, ssh, kubectl come from here)
 *   P.0.10   the load balancer (haproxy), the control-plane endpoint P.0.10:6443
 *   P.0.1N   node cpN
 *   P.0.2N   worker wN, added to a running lab (`add-worker`, a machine joining the cluster later)
 *   P.64.0/19  podSubnet (one /24 per node, assigned by the controller-manager)
 *   P.96.0/20  serviceSubnet (the kubernetes service is P.96.1)
 * Before anything is created the machine's namespace gets `unreachable P.0.0/16`, so nothing of the
 * lab's range ever leaves by the default route (a lab address with the lab down fails at once).
 */
export interface RealPlan {
  prefix: string; // "10.231"
  range: string; // "10.231.0.0/16"
  bridge: string;
  bridgeIp: string;
  nodeCidrBits: number;
  lbIp: string;
  lbVeth: string;
  endpoint: string;
  serviceSubnet: string;
  kubernetesServiceIp: string;
  podSubnet: string;
  nodes: PlannedNode[];
}

export interface PlannedNode {
  index: number;
  name: string;
  ip: string;
  veth: string;
  cgroupRoot: string;
}

export const DEFAULT_SUBNET = '10.231.0.0/16';

export function makePlan(subnet: string, count: number): RealPlan {
  const { prefix, tag } = subnetParts(subnet);
  if (count < 1 || count > 9) throw new Error('--nodes must be 1..9');
  return {
    prefix,
    range: subnet,
    bridge: `${tag}br`,
    bridgeIp: `${prefix}.0.1`,
    nodeCidrBits: 24,
    lbIp: `${prefix}.0.10`,
    lbVeth: `${tag}lb`,
    endpoint: `${prefix}.0.10:6443`,
    serviceSubnet: `${prefix}.96.0/20`,
    kubernetesServiceIp: `${prefix}.96.1`,
    podSubnet: `${prefix}.64.0/19`,
    nodes: Array.from({ length: count }, (_, i) => ({
      index: i + 1,
      name: `cp${i + 1}`,
      ip: `${prefix}.0.${11 + i}`,
      veth: `${tag}n${i + 1}`,
      cgroupRoot: `/${tag}-cp${i + 1}`,
    })),
  };
}

/** Worker number `n` (1..9) of the lab on `subnet`: name wN, address P.0.(20+N). */
export function workerNode(subnet: string, n: number): PlannedNode {
  const { prefix, tag } = subnetParts(subnet);
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error('a real lab has at most 9 workers');
  return { index: 20 + n, name: `w${n}`, ip: `${prefix}.0.${20 + n}`, veth: `${tag}w${n}`, cgroupRoot: `/${tag}-w${n}` };
}

function subnetParts(subnet: string): { prefix: string; tag: string } {
  const m = /^(10)\.(\d{1,3})\.0\.0\/16$/.exec(subnet) ?? /^(192)\.(168)\.0\.0\/16$/.exec(subnet);
  if (!m || Number(m[2]) > 255) throw new Error(`--subnet must be a private /16 like 10.231.0.0/16 (got ${subnet})`);
  // interface names stay under 15 characters
  return { prefix: `${m[1]}.${m[2]}`, tag: `kcl${m[2]}` };
}
