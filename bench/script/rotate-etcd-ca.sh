#!/usr/bin/env bash
# Rotate the CA of a hand-installed etcd cluster (no Kubernetes) by hand, without downtime: the
# procedure a careful operator writes once (trust -> switch -> finalize, one member at a time, the
# leader last, a health check after every restart). The benchmark's yardstick for kcarun's
# rotate-etcd-ca.yaml (bench/rotation-vs-script.ts, `npm run bench -- --only etcd-rotation`),
# written for the lab's etcd-only layout (lab/layouts/etcd-only.ts):
#   - each member runs from /etc/etcd/etcd.conf.yml, restarted with `/etc/init.d/etcd restart`;
#   - its certificates are in /etc/etcd/pki: ca.crt, server.*, peer.*, and the operator's
#     etcdctl.* client pair; no CA key on any node (the new CA is made here);
#   - a monitoring client (Prometheus, unit `prometheus`) on the first node has its own copy of the
#     CA and its own client pair in /etc/prometheus/ssl.
#
#   NODES="cp1=127.0.9.1 cp2=127.0.9.2 cp3=127.0.9.3" SSH_KEY=D/ssh/id_ed25519 \
#   KNOWN_HOSTS=D/ssh/known_hosts bash bench/script/rotate-etcd-ca.sh
#
# Like the field notes and rotate-ca.sh, it restarts each member after its certificates are
# replaced: an operator who has not read etcd's source does not know that etcd loads its serving and
# peer pairs at every TLS handshake. Needs ssh, openssl, jq here; etcdctl and openssl on the nodes.
set -euo pipefail
SCRIPT=rotate-etcd-ca
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
P=/etc/etcd/pki
CONFIG=/etc/etcd/etcd.conf.yml
BUNDLE=$P/ca-bundle.crt
PROM=/etc/prometheus/ssl
ETCDCTL_CERT=$P/etcdctl.crt
ETCDCTL_KEY=$P/etcdctl.key

# trust NODE CA-FILE: the member trusts CA-FILE for clients and peers (both trusted-ca-file keys of the
# config), restarted, healthy.
trust() {
  on "$1" "sed -i 's|^\\( *trusted-ca-file:\\).*|\\1 $2|' $CONFIG"
  [ "$(on "$1" "grep -c '^ *trusted-ca-file: $2\$' $CONFIG")" = 2 ] || die "$1: trusted-ca-file not set in $CONFIG"
  on "$1" "/etc/init.d/etcd restart" >/dev/null
  gate "$1 etcd" etcd_ok "$1" "$2"
}
# prometheus_trust CA-FILE (node path): the monitoring client's CA copy, restarted.
prometheus_trust() {
  on "$FIRST" "cp $1 $PROM/etcd-ca.crt.new && mv -f $PROM/etcd-ca.crt.new $PROM/etcd-ca.crt && systemctl restart prometheus"
}

T0=$SECONDS
log "preflight: every node answers, etcd healthy"
for n in $(names); do on "$n" true || die "$n unreachable"; done
on "$FIRST" "cat $P/ca.crt" >"$W/etcd-old.crt"
etcd_ok "$FIRST" "$P/ca.crt" || die "etcd is not healthy"

log "backup: etcd snapshot on $FIRST, /etc/etcd (and /etc/prometheus) on every node"
STAMP=$(date -u +%Y%m%dT%H%M%S)
on "$FIRST" "mkdir -p /var/backups"
etcdctl_on "$FIRST" "$P/ca.crt" snapshot save "/var/backups/etcd-$STAMP.db" >/dev/null 2>&1 || die "etcd snapshot failed"
etcdctl_on "$FIRST" "$P/ca.crt" snapshot status "/var/backups/etcd-$STAMP.db" -w json | jq -e '.totalKey > 0' >/dev/null || die "the etcd snapshot is empty"
for n in $(names); do on "$n" "mkdir -p /var/backups; umask 077; tar czf /var/backups/pre-rotation-$STAMP.tgz /etc/etcd \$( [ -d /etc/prometheus ] && echo /etc/prometheus) 2>/dev/null"; done

log "prepare: the new CA, the bundle (new + old) on every node"
newca etcd "etcd-ca-$STAMP"
for n in $(names); do put "$n" "$BUNDLE" 644 <"$W/etcd-bundle.crt"; done

# ===== Phase A: trust old + new =====
log "trust: etcd members (leader last)"
for n in $(etcd_order "$P/ca.crt"); do trust "$n" "$BUNDLE"; done
log "trust: prometheus on $FIRST"
prometheus_trust "$BUNDLE"

# ===== Phase B: switch to certificates from the new CA =====
log "switch: etcd certificates (leader last)"
for n in $(etcd_order "$BUNDLE"); do
  put "$n" "$P/ca.crt" 644 <"$W/etcd.crt"
  for c in server peer etcdctl; do reissue "$n" "$P/$c.crt" "$P/$c.key" etcd; done
  on "$n" "/etc/init.d/etcd restart" >/dev/null
  gate "$n etcd on the new certificates, serving a new-CA certificate" all_of "etcd_ok $n $BUNDLE" "tls_ok $n 2379 $P/ca.crt $ETCDCTL_CERT $ETCDCTL_KEY"
done
log "switch: prometheus client certificate"
reissue "$FIRST" "$PROM/etcd-client.crt" "$PROM/etcd-client.key" etcd
on "$FIRST" "systemctl restart prometheus"

# ===== Phase C: finalize: the old CA goes =====
log "finalize: etcd trusts the new CA only (leader last)"
for n in $(etcd_order "$P/ca.crt"); do trust "$n" "$P/ca.crt"; done
log "finalize: prometheus"
prometheus_trust "$P/ca.crt"
for n in $(names); do on "$n" "rm -f $BUNDLE"; done

log "post-check: every certificate on the new CA"
for n in $(names); do
  on "$n" "openssl verify -CAfile $P/ca.crt $P/server.crt $P/peer.crt $P/etcdctl.crt" >/dev/null || die "$n: a certificate is not on the new CA"
done
on "$FIRST" "openssl verify -CAfile $P/ca.crt $PROM/etcd-client.crt" >/dev/null || die "$FIRST: prometheus' client certificate"
etcd_ok "$FIRST" "$P/ca.crt" || die "etcd is not healthy at the end"
log "done in $((SECONDS - T0)) s"
