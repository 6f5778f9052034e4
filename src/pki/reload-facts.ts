/**
 * What each control-plane component reloads from disk while it runs ('live') and what it reads only
 * when it starts ('restart'), for the versions the lab runs (Kubernetes v1.37.2, etcd v3.6.16).
 * A stage may skip a restart only for a 'live' setting, and must still prove the skip with a probe
 * (a handshake with the new material) before it moves on.
 *
 * - `withinSeconds`: for 'live', the bound a test holds the reload to (the measured time is in
 *   docs/restarts.md); for 'restart', how long the test watched the changed file without the change
 *   taking effect (then a restart made it take effect).
 * - `perConnection`: the file is read at each new TLS handshake, not watched: it takes effect only when
 *   a connection is opened (an etcd client keeps its connection; the apiserver's etcd client dials again
 *   only when the connection breaks, e.g. when the etcd member restarts).
 * - `source`: where the behaviour is, in the Go module cache (`go env GOMODCACHE`).
 * - `evidence`: 'test' rows are proved against the real binaries by test/facts/ (which reads this
 *   table, so the two cannot drift); 'source' rows are read from the source only (no test yet).
 *
 * Pure data: no I/O.
 */
export type Reload = 'live' | 'restart';

export interface ReloadFact {
  component: 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kubelet' | 'etcd';
  /** semver range of the component the fact was established for */
  versions: string;
  /** the flag or config field, as `--flag` or `config.yaml: field` */
  setting: string;
  reload: Reload;
  withinSeconds?: number;
  perConnection?: boolean;
  source: string;
  evidence: 'test' | 'source';
  note?: string;
}

const K8S = '>=1.37.2 <1.38.0';
const ETCD = '>=3.6.16 <3.7.0';
const APISERVER_MOD = 'k8s.io/apiserver@v0.37.2';
const K8S_MOD = 'k8s.io/kubernetes@v1.37.2';
const CLIENT_GO = 'k8s.io/client-go@v0.37.2';
const ETCD_TRANSPORT = 'go.etcd.io/etcd/client/pkg/v3@v3.6.16/transport/listener.go';
const DYNAMIC_CA = `${APISERVER_MOD}/pkg/server/dynamiccertificates/dynamic_cafile_content.go:157-205 (fsnotify watch + 1 min re-check)`;

export const reloadFacts: readonly ReloadFact[] = [
  // kube-apiserver
  { component: 'kube-apiserver', versions: K8S, setting: '--client-ca-file', reload: 'live', withinSeconds: 10, evidence: 'test',
    source: `${APISERVER_MOD}/pkg/server/options/authentication.go:201; ${DYNAMIC_CA}` },
  { component: 'kube-apiserver', versions: K8S, setting: '--requestheader-client-ca-file', reload: 'live', withinSeconds: 10, evidence: 'test',
    source: `${APISERVER_MOD}/pkg/server/options/authentication.go:164; ${DYNAMIC_CA}` },
  { component: 'kube-apiserver', versions: K8S, setting: '--tls-cert-file/--tls-private-key-file', reload: 'live', withinSeconds: 10, evidence: 'test',
    source: `${APISERVER_MOD}/pkg/server/options/serving.go:321; ${APISERVER_MOD}/pkg/server/dynamiccertificates/dynamic_serving_content.go:131-185` },
  { component: 'kube-apiserver', versions: K8S, setting: '--service-account-key-file', reload: 'restart', withinSeconds: 25, evidence: 'test',
    source: `${K8S_MOD}/pkg/kubeapiserver/options/authentication.go:626-633 (keyutil.PublicKeysFromFile once); ${K8S_MOD}/pkg/serviceaccount/jwt.go:306-308 (static keys: "static key content never changes")` },
  { component: 'kube-apiserver', versions: K8S, setting: '--etcd-cafile', reload: 'restart', withinSeconds: 25, evidence: 'test',
    source: `${APISERVER_MOD}/pkg/storage/storagebackend/factory/etcd3.go:287-292; ${ETCD_TRANSPORT}:562-580 (RootCAs built once in ClientConfig)` },
  { component: 'kube-apiserver', versions: K8S, setting: '--etcd-certfile/--etcd-keyfile', reload: 'live', perConnection: true, withinSeconds: 30, evidence: 'test',
    source: `${APISERVER_MOD}/pkg/storage/storagebackend/factory/etcd3.go:287-292; ${ETCD_TRANSPORT}:493 (GetClientCertificate reads the files at every handshake)`,
    note: 'only at the next connection to etcd: the established gRPC connection keeps its certificate' },
  { component: 'kube-apiserver', versions: K8S, setting: '--kubelet-client-certificate/--kubelet-client-key', reload: 'live', perConnection: true, withinSeconds: 15, evidence: 'test',
    source: `${K8S_MOD}/pkg/kubelet/client/kubelet_client.go:115-123 (CertFile/KeyFile, ReloadTLSFiles); ${CLIENT_GO}/transport/transport.go:149, :384-416 (the pair read again at a handshake, at most once a second); ${CLIENT_GO}/transport/cache.go:130-139, ${CLIENT_GO}/transport/cert_rotation.go:37, :146 (open connections closed within 5 min once the pair changed)`,
    note: 'at the next connection to a kubelet; connections already open move within 5 minutes' },
  { component: 'kube-apiserver', versions: K8S, setting: '--proxy-client-cert-file/--proxy-client-key-file', reload: 'live', evidence: 'source',
    source: `k8s.io/kube-aggregator@v0.37.2/pkg/apiserver/apiserver.go:305-319 (NewDynamicServingContentFromFiles "aggregator-proxy-cert", run after start); ${APISERVER_MOD}/pkg/server/dynamiccertificates/dynamic_serving_content.go:131-185` },
  { component: 'kube-apiserver', versions: K8S, setting: '--kubelet-certificate-authority', reload: 'live', withinSeconds: 330, evidence: 'test',
    source: `${K8S_MOD}/pkg/kubelet/client/kubelet_client.go:114-124 (CAFile, ReloadTLSFiles); ${CLIENT_GO}/transport/transport.go:216-221, ${CLIENT_GO}/transport/ca_rotation.go:82-150 (re-read at most every 5 min, on a request); ${CLIENT_GO}/features/known_features.go:115-116 (ClientsAllowCARotation beta, on by default since 1.36)`,
    note: 'client-go re-reads a CA *file* at most every 5 minutes, at the first request after that; embedded CA data never' },
  // kube-controller-manager
  { component: 'kube-controller-manager', versions: K8S, setting: '--cluster-signing-cert-file/--cluster-signing-key-file', reload: 'live', withinSeconds: 30, evidence: 'test',
    source: `${K8S_MOD}/pkg/controller/certificates/signer/ca_provider.go:32; ${APISERVER_MOD}/pkg/server/dynamiccertificates/dynamic_serving_content.go:131-185` },
  { component: 'kube-controller-manager', versions: K8S, setting: '--root-ca-file', reload: 'restart', withinSeconds: 25, evidence: 'test',
    source: `${K8S_MOD}/cmd/kube-controller-manager/app/certificates.go:388, ${K8S_MOD}/cmd/kube-controller-manager/app/service_accounts.go:61, ${K8S_MOD}/cmd/kube-controller-manager/app/controllermanager.go:808-812 (os.ReadFile when the controller starts)` },
  { component: 'kube-controller-manager', versions: K8S, setting: '--client-ca-file', reload: 'live', withinSeconds: 10, evidence: 'test',
    source: `${APISERVER_MOD}/pkg/server/options/authentication.go:201; ${DYNAMIC_CA}` },
  { component: 'kube-controller-manager', versions: K8S, setting: '--requestheader-client-ca-file', reload: 'live', withinSeconds: 10, evidence: 'test',
    source: `${APISERVER_MOD}/pkg/server/options/authentication.go:164; ${DYNAMIC_CA}` },
  { component: 'kube-controller-manager', versions: K8S, setting: '--kubeconfig (certificate-authority-data)', reload: 'restart', evidence: 'source',
    source: `${CLIENT_GO}/tools/clientcmd/client_config.go:263 (CAData copied once); ${CLIENT_GO}/transport/transport.go:216-221 (only a CA *file* is re-read, every 5 min)`,
    note: 'kubeadm embeds the CA data in controller-manager.conf; the same holds for --authentication-kubeconfig/--authorization-kubeconfig' },
  // kube-scheduler
  { component: 'kube-scheduler', versions: K8S, setting: '--client-ca-file', reload: 'live', withinSeconds: 10, evidence: 'test',
    source: `${APISERVER_MOD}/pkg/server/options/authentication.go:201; ${DYNAMIC_CA}`,
    note: 'kubeadm does not set it on the scheduler: the scheduler then takes the client CA from kube-system/extension-apiserver-authentication (watched: authentication.go:370)' },
  { component: 'kube-scheduler', versions: K8S, setting: '--kubeconfig (certificate-authority-data)', reload: 'restart', evidence: 'source',
    source: `${CLIENT_GO}/tools/clientcmd/client_config.go:263; ${CLIENT_GO}/transport/transport.go:216-221`,
    note: 'kubeadm embeds the CA data in scheduler.conf' },
  // kubelet
  { component: 'kubelet', versions: K8S, setting: 'config.yaml: authentication.x509.clientCAFile', reload: 'live', evidence: 'source',
    source: `${K8S_MOD}/cmd/kubelet/app/auth.go:74-75; ${DYNAMIC_CA}` },
  { component: 'kubelet', versions: K8S, setting: 'kubelet.conf (certificate-authority-data)', reload: 'restart', evidence: 'source',
    source: `${K8S_MOD}/cmd/kubelet/app/server.go:1105-1107 (kubeconfig loaded at start); ${CLIENT_GO}/transport/transport.go:216-221 (only a CA *file* is re-read)`,
    note: 'kubeadm embeds the CA data in kubelet.conf; the client certificate (kubelet-client-current.pem) is a file and is rotated live by the kubelet' },
  // etcd
  { component: 'etcd', versions: ETCD, setting: '--trusted-ca-file', reload: 'restart', withinSeconds: 25, evidence: 'test',
    source: `${ETCD_TRANSPORT}:529-553 (ClientCAs built once in ServerConfig)` },
  { component: 'etcd', versions: ETCD, setting: '--peer-trusted-ca-file', reload: 'restart', withinSeconds: 25, evidence: 'test',
    source: `${ETCD_TRANSPORT}:529-553 (ClientCAs built once in ServerConfig, peer listener)` },
  { component: 'etcd', versions: ETCD, setting: '--cert-file/--key-file', reload: 'live', perConnection: true, withinSeconds: 5, evidence: 'test',
    source: `${ETCD_TRANSPORT}:474 (GetCertificate reads the files at every handshake)` },
  { component: 'etcd', versions: ETCD, setting: '--peer-cert-file/--peer-key-file', reload: 'live', perConnection: true, withinSeconds: 5, evidence: 'test',
    source: `${ETCD_TRANSPORT}:474 and :493 (read at every handshake, as server and as client)`,
    note: 'established peer connections keep the old certificate until they reconnect' },
];

/** The fact for a component's setting, if the table has one for that version range. */
export function findReloadFact(component: ReloadFact['component'], setting: string): ReloadFact | undefined {
  return reloadFacts.find((f) => f.component === component && f.setting === setting);
}
