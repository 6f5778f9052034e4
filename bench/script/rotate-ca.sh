#!/usr/bin/env bash
# Rotate the etcd, Kubernetes and front-proxy CAs of a kubeadm control plane by hand, without
# downtime: the procedure a careful platform engineer writes once (trust -> switch -> finalize, one
# member at a time, a health check after every restart). The benchmark's yardstick for kcarun
# (bench/rotation-vs-script.ts, `npm run bench -- --only rotation`, which runs it on the genuine
# kubeadm cluster with the settings below). First written for the emulated 3-node kubeadm lab
# (`kubeadm-emulated`, retired in issue 18), whose nodes carried etcdctl: the defaults
# (etcdctl on the host, `crictl stop`) are that kind of cluster's. The lab's inventory gives the rest:
#
#   NODES="cp1=10.234.0.11 cp2=10.234.0.12 cp3=10.234.0.13" SSH_KEY=D/ssh/id_ed25519 \
#   KNOWN_HOSTS=D/ssh/known_hosts ETCD_TOOLS=pod RESTART_BY=manifest HOLD_APISERVER=1 \
#   CRI_ENDPOINT=unix:///run/containerd/containerd.sock bash bench/script/rotate-ca.sh
#
# Gates (same defaults as kcarun's playbooks/defaults.yaml): GATE_SUCCESSES checks in a row,
# GATE_INTERVAL seconds apart, GATE_TIMEOUT seconds at most. Keys are reused: every new leaf is
# signed over a request made on the host from the existing key, so private keys of leaves never
# leave their host (the new CA keys are made here and copied where the old CA keys were).
# Needs ssh, openssl, jq, curl here; openssl, crictl, curl on the nodes (etcdctl too, unless
# ETCD_TOOLS=pod).
#
# On a genuine kubeadm cluster (the real lab, `lab up --layout kubeadm-real`) the same procedure
# meets the real kubelet, and a careful author adapts it the way kubeadm's own docs say:
#   ETCD_TOOLS=pod        etcdctl/etcdutl run in the node's etcd container (a kubeadm node has none)
#   RESTART_BY=manifest   a static pod restarts by moving its manifest out until its container is
#                         gone, then back ("Certificate Management with kubeadm"): `crictl stop` of
#                         the same pod again meets the kubelet's CrashLoop back-off (10, 20, 40 s)
#   CRI_ENDPOINT=unix:///run/containerd/containerd.sock   crictl's runtime (no /etc/crictl.yaml there)
#   HOLD_APISERVER=1      stacked etcd (--etcd-servers=https://127.0.0.1:2379): the node's
#                         kube-apiserver is moved out while its etcd member is replaced, so the load
#                         balancer sends it nothing it cannot serve
# and whatever the cluster does not have is left alone: a flag absent from a manifest stays absent,
# Prometheus and the coredns/kube-proxy workloads only where they exist, the kubelet's serving
# certificate only where the cluster CA signed it (kubeadm's default kubelet signs its own).
set -euo pipefail
SCRIPT=rotate-ca
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
P=/etc/kubernetes/pki
M=/etc/kubernetes/manifests
ETCD_BUNDLE=$P/etcd/ca-bundle.crt
K8S_BUNDLE=$P/ca-bundle.crt
FP_BUNDLE=$P/front-proxy-ca-bundle.crt
KUBECONFIGS="admin.conf super-admin.conf controller-manager.conf scheduler.conf"
ETCDCTL_CERT=$P/etcd/healthcheck-client.crt
ETCDCTL_KEY=$P/etcd/healthcheck-client.key
RESTART_BY=${RESTART_BY:-crictl}
HOLD_APISERVER=${HOLD_APISERVER:-0}
readyz_ok() { # node cacert
  [ "$(on "$1" "curl -sS --max-time 10 --cacert $2 --cert $P/apiserver-kubelet-client.crt --key $P/apiserver-kubelet-client.key https://$(ip_of "$1"):6443/readyz")" = ok ]
}

# ---- the API, as admin, from here (credentials from cp1's admin.conf, refreshed after the switch) ----
admin_creds() {
  on "$FIRST" "cat /etc/kubernetes/admin.conf" >"$W/admin.conf"
  awk '/client-certificate-data:/ {print $2}' "$W/admin.conf" | base64 -d >"$W/admin.crt"
  awk '/client-key-data:/ {print $2}' "$W/admin.conf" | base64 -d >"$W/admin.key"
}
api() { # method path [merge patch]
  local body=()
  [ $# -ge 3 ] && body=(-H 'Content-Type: application/merge-patch+json' --data "$3")
  curl -sS --fail-with-body --max-time 15 --cacert "$W/api-ca.crt" --cert "$W/admin.crt" --key "$W/admin.key" \
    -X "$1" "${body[@]}" "https://$(ip_of "$FIRST"):6443$2"
}
node_ok() { # node: Ready and its lease renewed within 40 s
  local ready renew
  ready=$(api GET "/api/v1/nodes/$1" | jq -r '.status.conditions[] | select(.type=="Ready") | .status')
  renew=$(api GET "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/$1" | jq -r '.spec.renewTime')
  [ "$ready" = True ] && [ $(($(date +%s) - $(date -d "$renew" +%s))) -le 40 ]
}
root_ca_is() { # file: kube-root-ca.crt equals it in every namespace
  local want ns
  want=$(cat "$1")
  for ns in $(api GET /api/v1/namespaces | jq -r '.items[].metadata.name'); do
    [ "$(api GET "/api/v1/namespaces/$ns/configmaps/kube-root-ca.crt" | jq -r '.data["ca.crt"]' | sed '/^$/d')" = "$(sed '/^$/d' <<<"$want")" ] || return 1
  done
}
rollout_restart() { # restart coredns and kube-proxy (where the cluster has them) so they read the new ca.crt, and wait for it
  local at kn
  at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ROLLED=()
  for kn in deployments/coredns daemonsets/kube-proxy; do
    api GET "/apis/apps/v1/namespaces/kube-system/$kn" >/dev/null 2>&1 || continue
    api PATCH "/apis/apps/v1/namespaces/kube-system/$kn" '{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"'"$at"'"}}}}}' >/dev/null
    ROLLED+=("$kn")
  done
  [ ${#ROLLED[@]} -gt 0 ] || { log "  no coredns or kube-proxy to restart"; return 0; }
  rolled() {
    local d kn
    for kn in "${ROLLED[@]}"; do
      d=$(api GET "/apis/apps/v1/namespaces/kube-system/$kn")
      case $kn in
        deployments/*) jq -e '.status.observedGeneration >= .metadata.generation and .status.updatedReplicas == .spec.replicas and .status.availableReplicas == .spec.replicas and .status.replicas == .spec.replicas' <<<"$d" >/dev/null || return 1 ;;
        daemonsets/*) jq -e '.status.observedGeneration >= .metadata.generation and .status.updatedNumberScheduled == .status.desiredNumberScheduled and .status.numberAvailable == .status.desiredNumberScheduled' <<<"$d" >/dev/null || return 1 ;;
      esac
    done
  }
  gate "${ROLLED[*]} restarted" rolled
}
cluster_info_ca() { # file: kube-public/cluster-info's kubeconfig trusts exactly it
  local cm kc
  cm=$(api GET /api/v1/namespaces/kube-public/configmaps/cluster-info)
  kc=$(jq -r '.data.kubeconfig' <<<"$cm" | sed "s|certificate-authority-data: .*|certificate-authority-data: $(base64 -w0 <"$1")|")
  api PATCH /api/v1/namespaces/kube-public/configmaps/cluster-info "$(jq -n --arg k "$kc" '{data: {kubeconfig: $k}}')" >/dev/null
}

# ---- restarts ----
container() { on "$1" "$CRICTL ps --name '^$2\$' --state running -q" | head -1; }
wait_new_container() { # node name old-id
  local t=$SECONDS id
  while id=$(container "$1" "$2"); [ -z "$id" ] || [ "$id" = "$3" ]; do
    [ $((SECONDS - t)) -ge 300 ] && die "$2 on $1 did not come back"
    sleep 1
  done
}
wait_gone() { # node name: no container of that name runs any more
  local t=$SECONDS
  while [ -n "$(container "$1" "$2")" ]; do
    [ $((SECONDS - t)) -ge 300 ] && die "$2 on $1 did not stop"
    sleep 1
  done
}
manifest_out() { on "$1" "mv $M/$2.yaml /etc/kubernetes/$2.yaml.out"; wait_gone "$1" "$2"; }
manifest_back() { on "$1" "mv /etc/kubernetes/$2.yaml.out $M/$2.yaml"; }
restart_pod() { # node name: files changed, the manifest did not
  local old
  old=$(container "$1" "$2")
  if [ "$RESTART_BY" = manifest ]; then
    manifest_out "$1" "$2"
    manifest_back "$1" "$2"
  else
    on "$1" "$CRICTL stop $old >/dev/null"
  fi
  wait_new_container "$1" "$2" "$old"
}
# etcd_replace NODE how...: the member replaced (how: set_flags/restart_pod with their arguments), its
# node's kube-apiserver moved out meanwhile where it talks to that member alone (HOLD_APISERVER=1)
etcd_replace() {
  local node=$1
  shift
  [ "$HOLD_APISERVER" = 1 ] && manifest_out "$node" kube-apiserver
  "$@"
  [ "$HOLD_APISERVER" = 1 ] && manifest_back "$node" kube-apiserver
  return 0
}
# set_flags NODE COMPONENT flag=value...: edit the static pod manifest; the kubelet replaces the pod.
# A flag the manifest does not have stays absent (kubeadm sets no --kubelet-certificate-authority).
set_flags() {
  local node=$1 c=$2 old kv script='' set=()
  shift 2
  for kv in "$@"; do
    on "$node" "grep -q -- '^ *- --${kv%%=*}=' $M/$c.yaml" || continue
    script+="s|^\\( *- --${kv%%=*}=\\).*|\\1${kv#*=}|;"
    set+=("$kv")
  done
  [ ${#set[@]} -gt 0 ] || return 0
  old=$(container "$node" "$c")
  on "$node" "sed -i '$script' $M/$c.yaml"
  for kv in "${set[@]}"; do on "$node" "grep -q -- '--$kv\$' $M/$c.yaml" || die "$node: --$kv not set in $M/$c.yaml"; done
  wait_new_container "$node" "$c" "$old"
}
restart_kubelet() { on "$1" "systemctl restart kubelet"; }

# ---- order: controller-manager lease holder last (etcd leader last: etcd_order) ----
cm_order() {
  local holder
  holder=$(api GET /apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager | jq -r '.spec.holderIdentity' | cut -d_ -f1)
  for n in $(names); do [ "$n" != "$holder" ] && echo "$n"; done
  for n in $(names); do [ "$n" = "$holder" ] && echo "$n"; done
  return 0
}

# ---- certificates ----
# kubeconfig_cert NODE FILE: its embedded client certificate re-signed by the new Kubernetes CA.
kubeconfig_cert() {
  on "$1" "[ -f $2 ]" || return 0
  on "$1" "set -e; d=\$(mktemp -d); trap 'rm -rf \$d' EXIT; awk '/client-certificate-data:/ {print \$2}' $2 | base64 -d > \$d/c; awk '/client-key-data:/ {print \$2}' $2 | base64 -d > \$d/k; openssl x509 -x509toreq -in \$d/c -signkey \$d/k -copy_extensions copyall 2>/dev/null" >"$W/req.csr"
  sign k8s
  on "$1" "sed -i 's|^\\( *client-certificate-data:\\).*|\\1 $(base64 -w0 <"$W/new.crt")|' $2"
}
kubeconfig_ca() { # NODE FILE CA-FILE(here)
  on "$1" "[ -f $2 ]" || return 0
  on "$1" "sed -i 's|^\\( *certificate-authority-data:\\).*|\\1 $(base64 -w0 <"$3")|' $2"
}
# The kubelet's client pair: a new kubelet-client-<time>.pem (new certificate, same key), link swapped.
kubelet_client_cert() {
  local d=/var/lib/kubelet/pki ts
  ts=$(date -u +%Y-%m-%d-%H-%M-%S)
  on "$1" "openssl x509 -x509toreq -in $d/kubelet-client-current.pem -signkey $d/kubelet-client-current.pem -copy_extensions copyall 2>/dev/null" >"$W/req.csr"
  sign k8s
  on "$1" "set -e; umask 077; { cat; awk '/-----BEGIN .*PRIVATE KEY-----/,/-----END .*PRIVATE KEY-----/' $d/kubelet-client-current.pem; } > $d/kubelet-client-$ts.pem; ln -s kubelet-client-$ts.pem $d/.kcl-new; mv -T $d/.kcl-new $d/kubelet-client-current.pem" <"$W/new.crt"
}

T0=$SECONDS
log "preflight: every node answers, etcd healthy, the apiservers ready"
for n in $(names); do on "$n" true || die "$n unreachable"; done
on "$FIRST" "cat $P/ca.crt" >"$W/k8s-old.crt"
on "$FIRST" "cat $P/etcd/ca.crt" >"$W/etcd-old.crt"
on "$FIRST" "cat $P/front-proxy-ca.crt" >"$W/fp-old.crt"
cp "$W/k8s-old.crt" "$W/api-ca.crt"
etcd_ok "$FIRST" "$P/etcd/ca.crt" || die "etcd is not healthy"
for n in $(names); do readyz_ok "$n" "$P/ca.crt" || die "$n: apiserver not ready"; done
admin_creds

log "backup: etcd snapshot on $FIRST, /etc/kubernetes and the kubelet's files on every node"
STAMP=$(date -u +%Y%m%dT%H%M%S)
if [ "$ETCD_TOOLS" = pod ]; then
  # in the container: its /var/lib/etcd is the node's; since etcd 3.5 the file is checked by etcdutl
  etcdctl_on "$FIRST" "$P/etcd/ca.crt" snapshot save "/var/lib/etcd/etcd-$STAMP.db" >/dev/null 2>&1 || die "etcd snapshot failed"
  etcd_tool "$FIRST" etcdutl snapshot status "/var/lib/etcd/etcd-$STAMP.db" -w json | jq -e '.totalKey > 0' >/dev/null || die "the etcd snapshot is empty"
  on "$FIRST" "mkdir -p /var/backups && mv /var/lib/etcd/etcd-$STAMP.db /var/backups/"
else
  etcdctl_on "$FIRST" "$P/etcd/ca.crt" snapshot save "/var/backups/etcd-$STAMP.db" >/dev/null 2>&1 || die "etcd snapshot failed"
  etcdctl_on "$FIRST" "$P/etcd/ca.crt" snapshot status "/var/backups/etcd-$STAMP.db" -w json | jq -e '.totalKey > 0' >/dev/null || die "the etcd snapshot is empty"
fi
for n in $(names); do on "$n" "umask 077; tar czf /var/backups/pre-rotation-$STAMP.tgz /etc/kubernetes /var/lib/kubelet/config.yaml /var/lib/kubelet/pki /etc/prometheus 2>/dev/null || tar czf /var/backups/pre-rotation-$STAMP.tgz /etc/kubernetes /var/lib/kubelet/config.yaml /var/lib/kubelet/pki"; done

log "prepare: new CAs, bundles (new + old) on every node"
newca k8s "kubernetes-$STAMP"
newca etcd "etcd-ca-$STAMP"
newca fp "front-proxy-ca-$STAMP"
cp "$W/k8s-bundle.crt" "$W/api-ca.crt"
for n in $(names); do
  put "$n" "$K8S_BUNDLE" 644 <"$W/k8s-bundle.crt"
  put "$n" "$ETCD_BUNDLE" 644 <"$W/etcd-bundle.crt"
  put "$n" "$FP_BUNDLE" 644 <"$W/fp-bundle.crt"
done

# The trust steps that trust (phase A) and finalize (phase C) take alike, each given the CA files
# the clients are to trust: on the nodes ($P/... or a bundle) and, where the content is embedded, here.
# Prometheus (the operator's extra client, on the first node) where the cluster has it.
HAS_PROMETHEUS=0
on "$FIRST" "[ -d /etc/prometheus/ssl ]" && HAS_PROMETHEUS=1
prometheus_trust() { # etcd-ca k8s-ca (node paths)
  [ "$HAS_PROMETHEUS" = 1 ] || return 0
  on "$FIRST" "cp $1 /etc/prometheus/ssl/etcd-ca.crt.new && mv -f /etc/prometheus/ssl/etcd-ca.crt.new /etc/prometheus/ssl/etcd-ca.crt && cp $2 /etc/prometheus/ssl/kubernetes-ca.crt.new && mv -f /etc/prometheus/ssl/kubernetes-ca.crt.new /etc/prometheus/ssl/kubernetes-ca.crt && systemctl restart prometheus"
}
controller_managers_trust() { # k8s-ca fp-ca (node paths)
  for n in $(cm_order); do
    set_flags "$n" kube-controller-manager "root-ca-file=$1" "client-ca-file=$1" "requestheader-client-ca-file=$2"
  done
}
apiserver_clients_trust() { # k8s-ca fp-ca (node paths)
  for n in $(names); do
    set_flags "$n" kube-apiserver "client-ca-file=$1" "kubelet-certificate-authority=$1" "requestheader-client-ca-file=$2"
    gate "$n apiserver ready" readyz_ok "$n" "$1"
  done
}
kubeconfigs_trust() { # k8s-ca (here)
  for n in $(names); do
    for k in $KUBECONFIGS; do kubeconfig_ca "$n" "/etc/kubernetes/$k" "$1"; done
    restart_pod "$n" kube-controller-manager
    restart_pod "$n" kube-scheduler
  done
}
kubelets_trust() { # k8s-ca (here) k8s-ca (node path)
  for n in $(names); do
    kubeconfig_ca "$n" /etc/kubernetes/kubelet.conf "$1"
    on "$n" "sed -i 's|^\\( *clientCAFile:\\).*|\\1 $2|' /var/lib/kubelet/config.yaml"
    restart_kubelet "$n"
    gate "$n node Ready" node_ok "$n"
  done
}

# ===== Phase A: trust old + new =====
log "trust: etcd members (leader last)"
for n in $(etcd_order "$ETCD_BUNDLE"); do
  etcd_replace "$n" set_flags "$n" etcd "trusted-ca-file=$ETCD_BUNDLE" "peer-trusted-ca-file=$ETCD_BUNDLE"
  gate "$n etcd" etcd_ok "$n" "$ETCD_BUNDLE"
  [ "$HOLD_APISERVER" = 1 ] && gate "$n apiserver ready" readyz_ok "$n" "$K8S_BUNDLE"
done
log "trust: apiservers' etcd client"
for n in $(names); do
  set_flags "$n" kube-apiserver "etcd-cafile=$ETCD_BUNDLE"
  gate "$n apiserver ready" readyz_ok "$n" "$K8S_BUNDLE"
done
log "trust: prometheus on $FIRST"
prometheus_trust "$ETCD_BUNDLE" "$K8S_BUNDLE"
log "trust: controller-managers (lease holder last)"
controller_managers_trust "$K8S_BUNDLE" "$FP_BUNDLE"
gate "kube-root-ca.crt = bundle everywhere" root_ca_is "$W/k8s-bundle.crt"
rollout_restart
log "trust: apiservers' clients"
apiserver_clients_trust "$K8S_BUNDLE" "$FP_BUNDLE"
log "trust: control-plane kubeconfigs"
kubeconfigs_trust "$W/k8s-bundle.crt"
log "trust: kubelets"
kubelets_trust "$W/k8s-bundle.crt" "$K8S_BUNDLE"

# ===== Phase B: switch to certificates from the new CAs =====
log "switch: controller-managers sign with the new CA (lease holder last)"
for n in $(cm_order); do
  on "$n" "[ -f $P/ca.key ]" && put "$n" "$P/ca.key" 600 <"$W/k8s.key"
  put "$n" "$P/ca.crt" 644 <"$W/k8s.crt"
  restart_pod "$n" kube-controller-manager
done
log "switch: etcd certificates (leader last)"
for n in $(etcd_order "$ETCD_BUNDLE"); do
  on "$n" "[ -f $P/etcd/ca.key ]" && put "$n" "$P/etcd/ca.key" 600 <"$W/etcd.key"
  put "$n" "$P/etcd/ca.crt" 644 <"$W/etcd.crt"
  for c in server peer healthcheck-client; do reissue "$n" "$P/etcd/$c.crt" "$P/etcd/$c.key" etcd; done
  reissue "$n" "$P/apiserver-etcd-client.crt" "$P/apiserver-etcd-client.key" etcd
  etcd_replace "$n" restart_pod "$n" etcd
  gate "$n etcd on the new certificates, serving a new-CA certificate" all_of "etcd_ok $n $ETCD_BUNDLE" "tls_ok $n 2379 $P/etcd/ca.crt $P/etcd/healthcheck-client.crt $P/etcd/healthcheck-client.key"
  [ "$HOLD_APISERVER" = 1 ] && gate "$n apiserver ready" readyz_ok "$n" "$K8S_BUNDLE"
done
log "switch: control-plane certificates"
for n in $(names); do
  on "$n" "[ -f $P/front-proxy-ca.key ]" && put "$n" "$P/front-proxy-ca.key" 600 <"$W/fp.key"
  put "$n" "$P/front-proxy-ca.crt" 644 <"$W/fp.crt"
  reissue "$n" "$P/apiserver.crt" "$P/apiserver.key" k8s
  reissue "$n" "$P/apiserver-kubelet-client.crt" "$P/apiserver-kubelet-client.key" k8s
  reissue "$n" "$P/front-proxy-client.crt" "$P/front-proxy-client.key" fp
  for k in $KUBECONFIGS; do kubeconfig_cert "$n" "/etc/kubernetes/$k"; done
  restart_pod "$n" kube-apiserver
  gate "$n apiserver ready, serving a new-CA certificate" all_of "readyz_ok $n $K8S_BUNDLE" "tls_ok $n 6443 $P/ca.crt"
  restart_pod "$n" kube-controller-manager
  restart_pod "$n" kube-scheduler
done
admin_creds
log "switch: kubelets"
SERVING_REISSUED=()
for n in $(names); do
  kubelet_client_cert "$n"
  # the serving certificate only where the cluster CA signed it (not the kubelet's self-signed one)
  if on "$n" "openssl verify -CAfile $P/ca-bundle.crt /var/lib/kubelet/pki/kubelet.crt" >/dev/null 2>&1; then
    reissue "$n" /var/lib/kubelet/pki/kubelet.crt /var/lib/kubelet/pki/kubelet.key k8s
    SERVING_REISSUED+=("$n")
    restart_kubelet "$n"
    gate "$n node Ready, kubelet serving a new-CA certificate" all_of "node_ok $n" "tls_ok $n 10250 $P/ca.crt"
  else
    restart_kubelet "$n"
    gate "$n node Ready" node_ok "$n"
  fi
done
if [ "$HAS_PROMETHEUS" = 1 ]; then
  log "switch: prometheus client certificates"
  reissue "$FIRST" /etc/prometheus/ssl/etcd-client.crt /etc/prometheus/ssl/etcd-client.key etcd
  reissue "$FIRST" /etc/prometheus/ssl/kubelet-client.crt /etc/prometheus/ssl/kubelet-client.key k8s
  on "$FIRST" "systemctl restart prometheus"
fi
log "switch: cluster-info (new CA first)"
cluster_info_ca "$W/k8s-bundle.crt"

# ===== Phase C: finalize: the old CAs go =====
log "finalize: apiservers' etcd client trusts the new etcd CA only"
for n in $(names); do
  set_flags "$n" kube-apiserver "etcd-cafile=$P/etcd/ca.crt"
  gate "$n apiserver ready" readyz_ok "$n" "$P/ca.crt"
done
log "finalize: etcd trusts the new etcd CA only (leader last)"
for n in $(etcd_order "$P/etcd/ca.crt"); do
  etcd_replace "$n" set_flags "$n" etcd "trusted-ca-file=$P/etcd/ca.crt" "peer-trusted-ca-file=$P/etcd/ca.crt"
  gate "$n etcd" etcd_ok "$n" "$P/etcd/ca.crt"
  [ "$HOLD_APISERVER" = 1 ] && gate "$n apiserver ready" readyz_ok "$n" "$K8S_BUNDLE"
done
log "finalize: prometheus"
prometheus_trust "$P/etcd/ca.crt" "$P/ca.crt"
log "finalize: controller-managers (lease holder last)"
controller_managers_trust "$P/ca.crt" "$P/front-proxy-ca.crt"
cp "$W/k8s.crt" "$W/api-ca.crt"
gate "kube-root-ca.crt = new CA everywhere" root_ca_is "$W/k8s.crt"
rollout_restart
log "finalize: apiservers"
apiserver_clients_trust "$P/ca.crt" "$P/front-proxy-ca.crt"
log "finalize: control-plane kubeconfigs"
kubeconfigs_trust "$W/k8s.crt"
log "finalize: kubelets"
kubelets_trust "$W/k8s.crt" "$P/ca.crt"
cluster_info_ca "$W/k8s.crt"
for n in $(names); do on "$n" "rm -f $K8S_BUNDLE $ETCD_BUNDLE $FP_BUNDLE"; done

log "post-check: every leaf on its new CA"
for n in $(names); do
  for c in etcd/server etcd/peer etcd/healthcheck-client apiserver-etcd-client; do on "$n" "openssl verify -CAfile $P/etcd/ca.crt $P/$c.crt" >/dev/null || die "$n: $c.crt"; done
  for c in apiserver apiserver-kubelet-client; do on "$n" "openssl verify -CAfile $P/ca.crt $P/$c.crt" >/dev/null || die "$n: $c.crt"; done
  on "$n" "openssl verify -CAfile $P/front-proxy-ca.crt $P/front-proxy-client.crt && openssl verify -CAfile $P/ca.crt /var/lib/kubelet/pki/kubelet-client-current.pem" >/dev/null || die "$n: front-proxy or kubelet client certificates"
  if [[ " ${SERVING_REISSUED[*]} " == *" $n "* ]]; then on "$n" "openssl verify -CAfile $P/ca.crt /var/lib/kubelet/pki/kubelet.crt" >/dev/null || die "$n: kubelet serving certificate"; fi
done
log "done in $((SECONDS - T0)) s"
