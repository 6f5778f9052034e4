/** Renders the Kubernetes-shaped text files the layouts write (kubeconfigs, static pod manifests, units). */
import { stringify } from 'yaml';

export interface KubeconfigInput {
  clusterName: string;
  server: string;
  userName: string;
  /** Either embedded PEM data (kubeadm) or file paths (hand-installed). */
  ca: { data: string } | { file: string };
  client: { certData: string; keyData: string } | { certFile: string; keyFile: string };
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

export function renderKubeconfig(k: KubeconfigInput): string {
  const cluster: Record<string, string> = { server: k.server };
  if ('data' in k.ca) cluster['certificate-authority-data'] = b64(k.ca.data);
  else cluster['certificate-authority'] = k.ca.file;
  const user: Record<string, string> =
    'certData' in k.client
      ? { 'client-certificate-data': b64(k.client.certData), 'client-key-data': b64(k.client.keyData) }
      : { 'client-certificate': k.client.certFile, 'client-key': k.client.keyFile };
  const context = `${k.userName}@${k.clusterName}`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: k.clusterName, cluster }],
    contexts: [{ name: context, context: { cluster: k.clusterName, user: k.userName } }],
    'current-context': context,
    preferences: {},
    users: [{ name: k.userName, user }],
  });
}

/** A static pod manifest the way kubeadm writes it: the flags are in `command`, one per item. */
export function renderStaticPod(name: string, command: string[], hostPaths: string[]): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { labels: { component: name, tier: 'control-plane' }, name, namespace: 'kube-system' },
    spec: {
      containers: [
        {
          command,
          image: `registry.k8s.io/${name}:lab`,
          imagePullPolicy: 'IfNotPresent',
          name,
          volumeMounts: hostPaths.map((p, i) => ({ mountPath: p, name: `vol-${i}` })),
        },
      ],
      hostNetwork: true,
      priorityClassName: 'system-node-critical',
      volumes: hostPaths.map((p, i) => ({ hostPath: { path: p, type: 'DirectoryOrCreate' }, name: `vol-${i}` })),
    },
  });
}

/** A systemd unit whose ExecStart carries the flags, one per continuation line (field-notes style). */
export function renderUnit(description: string, execStart: string[], opts: { type?: string; after?: string } = {}): string {
  const [bin, ...flags] = execStart;
  const exec = [bin, ...flags.map((f) => `  ${f}`)].join(' \\\n');
  return `[Unit]
Description=${description}
${opts.after ? `After=${opts.after}\n` : ''}
[Service]
Type=${opts.type ?? 'simple'}
ExecStart=${exec}
Restart=on-failure
RestartSec=5
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;
}
