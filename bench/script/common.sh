# Helpers shared by the benchmark's hand-written rotation scripts (rotate-ca.sh, rotate-etcd-ca.sh):
# what a careful platform engineer keeps in one file and sources. Expects NODES="name=IP ...",
# SSH_KEY, KNOWN_HOSTS, SCRIPT (the name its log lines carry) and, for the etcd checks, ETCDCTL_CERT and
# ETCDCTL_KEY (the operator's etcd client pair on the nodes); sets W, a private work folder
# removed at exit, and the gate settings GATE_SUCCESSES (checks in a row), GATE_INTERVAL (seconds
# between checks) and GATE_TIMEOUT (seconds at most), the same defaults as kcarun's playbooks.
# shellcheck shell=bash

read -r -a NODE_LIST <<<"${NODES:?NODES=\"cp1=IP cp2=IP ...\"}"
: "${SSH_KEY:?}" "${KNOWN_HOSTS:?}" "${SCRIPT:?}"
GATE_SUCCESSES=${GATE_SUCCESSES:-3}
GATE_INTERVAL=${GATE_INTERVAL:-2}
GATE_TIMEOUT=${GATE_TIMEOUT:-180}
W=$(mktemp -d "/tmp/$SCRIPT.XXXXXX")
chmod 700 "$W"
cleanup() {
  for n in "${NODE_LIST[@]}"; do ssh -o ControlPath="$W/ssh-${n%%=*}" -O exit x 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT

log() { printf '%s %s: %s\n' "$(date -u +%H:%M:%S)" "$SCRIPT" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
names() { for n in "${NODE_LIST[@]}"; do echo "${n%%=*}"; done; }
ip_of() { for n in "${NODE_LIST[@]}"; do [ "${n%%=*}" = "$1" ] && { echo "${n#*=}"; return; }; done; die "unknown node $1"; }
FIRST=$(names | head -1)

# One SSH connection per node, reused (ControlMaster), host keys checked.
on() {
  local node=$1
  shift
  ssh -i "$SSH_KEY" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes -o BatchMode=yes \
    -o ControlMaster=auto -o ControlPath="$W/ssh-$node" -o ControlPersist=600 -o LogLevel=ERROR "root@$(ip_of "$node")" "$@"
}
# put NODE PATH MODE < content: written beside, then renamed (a reader never sees half a file).
put() { on "$1" "umask 077; cat > '$2.new' && chmod $3 '$2.new' && mv -f '$2.new' '$2'"; }

# ---- gates: the check must pass GATE_SUCCESSES times in a row ----
gate() {
  local what=$1 ok=0 start=$SECONDS out=''
  shift
  while :; do
    if out=$("$@" 2>&1); then
      ok=$((ok + 1))
      [ "$ok" -ge "$GATE_SUCCESSES" ] && { log "  ok: $what"; return 0; }
    else
      ok=0
    fi
    [ $((SECONDS - start)) -ge "$GATE_TIMEOUT" ] && die "$what: not healthy within ${GATE_TIMEOUT}s: $(tail -n 2 <<<"$out")"
    sleep "$GATE_INTERVAL"
  done
}
# all_of "check args" "check args"...: one round of several checks; all must pass (arguments hold no spaces)
all_of() {
  local c
  for c in "$@"; do
    # shellcheck disable=SC2086
    $c || { echo "failed: $c"; return 1; }
  done
}
# etcdctl on the node against its own member, with the operator's client pair ETCDCTL_CERT/ETCDCTL_KEY.
# A kubeadm node has no etcdctl: there it runs in the node's etcd container (kubeadm's docs do the
# same), whose hostPath mounts show it the same /etc/kubernetes/pki/etcd; ETCD_TOOLS=pod says so.
ETCD_TOOLS=${ETCD_TOOLS:-host}
# crictl on the nodes, told its runtime's socket where the node has no /etc/crictl.yaml (CRI_ENDPOINT)
CRICTL="crictl${CRI_ENDPOINT:+ --runtime-endpoint $CRI_ENDPOINT}"
etcd_tool() { # node tool args...: etcdctl or etcdutl, on the node or in its etcd container
  local node=$1 tool=$2
  shift 2
  if [ "$ETCD_TOOLS" = pod ]; then
    on "$node" "id=\$($CRICTL ps --name '^etcd\$' --state running -q | head -1); [ -n \"\$id\" ] || { echo 'no running etcd container' >&2; exit 1; }; $CRICTL exec \$id $tool $*"
  else
    on "$node" "ETCDCTL_API=3 $tool $*"
  fi
}
etcdctl_on() { # node cacert args...
  local node=$1 ca=$2
  shift 2
  etcd_tool "$node" etcdctl "--endpoints=https://$(ip_of "$node"):2379 --cacert=$ca --cert=$ETCDCTL_CERT --key=$ETCDCTL_KEY $*"
}
# every member healthy, all agree on one leader
etcd_ok() { # node cacert
  local health
  health=$(etcdctl_on "$1" "$2" endpoint health --cluster 2>&1) || { echo "$health"; return 1; }
  etcdctl_on "$1" "$2" endpoint status --cluster -w json | jq -e '[.[].Status.leader] | (unique | length == 1) and (.[0] != 0) and (length == '"${#NODE_LIST[@]}"')' >/dev/null
}
# the members in rolling order: the leader last (one election instead of one per member)
etcd_order() { # cacert
  local leader_name
  leader_name=$(etcdctl_on "$FIRST" "$1" endpoint status --cluster -w json | jq -r '.[] | select(.Status.header.member_id == .Status.leader) | .Endpoint' | sed 's|https://||; s|:2379||')
  for n in $(names); do [ "$(ip_of "$n")" != "$leader_name" ] && echo "$n"; done
  for n in $(names); do [ "$(ip_of "$n")" = "$leader_name" ] && echo "$n"; done
  return 0
}
# the served chain verifies against CA for the node's IP
tls_ok() { # node port ca [client cert key]
  local ip
  ip=$(ip_of "$1")
  on "$1" "timeout 10 openssl s_client -connect $ip:$2 -CAfile $3 -verify_return_error -verify_ip $ip ${4:+-cert $4 -key $5} </dev/null 2>&1" | grep -q 'Verify return code: 0 (ok)'
}

# ---- certificates ----
# newca NAME CN: $W/NAME.crt and .key, and $W/NAME-bundle.crt = new + $W/NAME-old.crt
newca() {
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=$2" -keyout "$W/$1.key" -out "$W/$1.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign 2>/dev/null
  cat "$W/$1.crt" "$W/$1-old.crt" >"$W/$1-bundle.crt"
}
# reissue NODE CERT KEY CA: a new certificate for the key on the host, same subject and extensions.
reissue() {
  on "$1" "openssl x509 -x509toreq -in $2 -signkey $3 -copy_extensions copyall 2>/dev/null" >"$W/req.csr"
  sign "$4"
  put "$1" "$2" 644 <"$W/new.crt"
}
sign() {
  openssl x509 -req -in "$W/req.csr" -CA "$W/$1.crt" -CAkey "$W/$1.key" -set_serial "0x$(openssl rand -hex 16)" -days 365 \
    -copy_extensions copyall -extfile <(printf 'authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n') -out "$W/new.crt" 2>/dev/null
  openssl verify -CAfile "$W/$1.crt" "$W/new.crt" >/dev/null || die "the new certificate does not verify"
}
