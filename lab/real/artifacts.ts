/**
 * The pinned binaries and images of the real lab: scripts/versions.env names the versions (or the
 * file $KCARUN_VERSIONS names: scripts/versions-k8s-1.34.env runs the lab on an older Kubernetes
 * minor), scripts/build-lab-binaries.sh builds them into a cache folder outside the repository
 * ($KCARUN_CACHE, default /var/cache/kcarun/<first 12 hex of sha256(the versions file)>). This file
 * finds that folder the same way the script does.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The versions file: $KCARUN_VERSIONS (relative to the repository or absolute), else scripts/versions.env. */
export const VERSIONS_FILE = resolve(repoRoot, process.env['KCARUN_VERSIONS'] || join('scripts', 'versions.env'));
export const BUILD_SCRIPT = join(repoRoot, 'scripts', 'build-lab-binaries.sh');

export interface Versions {
  KUBERNETES_VERSION: string;
  ETCD_VERSION: string;
  ETCD_IMAGE_TAG: string;
  CONTAINERD_VERSION: string;
  CRI_TOOLS_VERSION: string;
  IMAGE_REPOSITORY: string;
  [k: string]: string;
}

export function readVersions(): Versions {
  const v: Record<string, string> = {};
  for (const line of readFileSync(VERSIONS_FILE, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) v[m[1]!] = m[2]!;
  }
  return v as Versions;
}

export function cacheDir(): string {
  if (process.env['KCARUN_CACHE']) return process.env['KCARUN_CACHE'];
  const hash = createHash('sha256').update(readFileSync(VERSIONS_FILE)).digest('hex').slice(0, 12);
  return `/var/cache/kcarun/${hash}`;
}

export const cacheBin = (): string => join(cacheDir(), 'bin');
export const cacheImages = (): string => join(cacheDir(), 'images');

/** The binaries a node gets on its PATH (/usr/local/bin): what a kubeadm node has. No etcdctl. */
export const NODE_BINARIES = ['kubeadm', 'kubelet', 'kubectl', 'crictl', 'ctr', 'containerd', 'containerd-shim-runc-v2'] as const;
/** Images each node imports (docker-archive tarballs named NAME_TAG.tar). */
export const LAB_IMAGES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd', 'pause'] as const;

/** The image references kubeadm will use, as `kubeadm config images list` printed them at build time (etcd retagged). */
export function imageRefs(): Record<(typeof LAB_IMAGES)[number], string> {
  const v = readVersions();
  const listed = readFileSync(join(cacheImages(), 'kubeadm-images.txt'), 'utf8').split('\n').filter(Boolean);
  const out: Record<string, string> = {};
  for (const name of LAB_IMAGES) {
    const ref = listed.find((r) => r.split('/').pop()!.split(':')[0] === name);
    if (!ref) throw new Error(`kubeadm-images.txt lists no ${name} image`);
    out[name] = name === 'etcd' ? `${ref.split(':')[0]}:${v.ETCD_IMAGE_TAG}` : ref;
  }
  return out as Record<(typeof LAB_IMAGES)[number], string>;
}

export function imageTarball(ref: string): string {
  const last = ref.split('/').pop()!;
  const [name, tag] = last.split(':');
  return join(cacheImages(), `${name}_${tag}.tar`);
}

/** Throws with the build command when something is missing (the full --version check is the script's --check). */
export function requireArtifacts(): void {
  const missing = [...NODE_BINARIES, 'etcdctl', 'crane', 'pause'].filter((b) => !existsSync(join(cacheBin(), b)));
  const refs = existsSync(join(cacheImages(), 'kubeadm-images.txt')) ? Object.values(imageRefs()).filter((r) => !existsSync(imageTarball(r))) : ['kubeadm-images.txt'];
  if (missing.length || refs.length) {
    throw new Error(`the real lab's binaries/images are not built in ${cacheDir()} (missing: ${[...missing, ...refs].join(', ')}): run \`bash scripts/install-deps.sh\` (or scripts/build-lab-binaries.sh), ~17 min cold`);
  }
}
