#!/usr/bin/env bash
# Builds the real lab's pinned binaries and container images (versions: scripts/versions.env, or the
# file $KCARUN_VERSIONS names, e.g. scripts/versions-k8s-1.34.env for an older Kubernetes minor) into a
# cache folder outside the repository, once per pinned version set:
#
#   $KCARUN_CACHE (default /var/cache/kcarun/<first 12 hex of sha256(the versions file)>)
#     bin/     kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler
#              etcd etcdctl etcdutl containerd containerd-shim-runc-v2 ctr crictl crane pause
#     images/  one docker-archive tarball per image, tagged as `kubeadm config images list` names them
#     src/     the wrapper Go modules the binaries are built from
#     build.log, build-times.txt
#
# A no-op when every binary answers --version with its pinned version and every image tarball exists.
# Needs Go (>= the go directive of Kubernetes' go.mod) and the Go module proxy. Cold: ~17 min on 2 cores.
# Usage: scripts/build-lab-binaries.sh [--print-cache-dir] [--check]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VERSIONS_FILE="${KCARUN_VERSIONS:-scripts/versions.env}"
# relative to the repository, as lab/real/artifacts.ts reads it
case "$VERSIONS_FILE" in /*) ;; *) VERSIONS_FILE="$(dirname "$here")/$VERSIONS_FILE" ;; esac
[ -f "$VERSIONS_FILE" ] || { echo "build-lab-binaries: no versions file $VERSIONS_FILE (KCARUN_VERSIONS)" >&2; exit 2; }
# shellcheck source=versions.env
source "$VERSIONS_FILE"
hash="$(sha256sum "$VERSIONS_FILE" | cut -c1-12)"
CACHE="${KCARUN_CACHE:-/var/cache/kcarun/$hash}"
BIN="$CACHE/bin"
IMAGES="$CACHE/images"
SRC="$CACHE/src"

if [ "${1:-}" = "--print-cache-dir" ]; then echo "$CACHE"; exit 0; fi

export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -trimpath" GOTOOLCHAIN=local
K8S_MINOR="${KUBERNETES_VERSION#v}"; K8S_MAJOR="${K8S_MINOR%%.*}"; K8S_MINOR="${K8S_MINOR#*.}"; K8S_MINOR="${K8S_MINOR%%.*}"
ETCD_V="${ETCD_VERSION#v}"
CRICTL_V="$CRI_TOOLS_VERSION"

REGPID=""
# the throwaway registry of build_images never outlives the script
trap '[ -n "$REGPID" ] && kill "$REGPID" 2>/dev/null; true' EXIT
log() { printf '[build-lab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --version checks: binary name -> the text its version output must contain
declare -A want=(
  [kubeadm]="$KUBERNETES_VERSION" [kubelet]="Kubernetes $KUBERNETES_VERSION" [kubectl]="$KUBERNETES_VERSION"
  [kube-apiserver]="Kubernetes $KUBERNETES_VERSION" [kube-controller-manager]="Kubernetes $KUBERNETES_VERSION"
  [kube-scheduler]="Kubernetes $KUBERNETES_VERSION"
  [etcd]="etcd Version: $ETCD_V" [etcdctl]="etcdctl version: $ETCD_V" [etcdutl]="etcdutl version: $ETCD_V"
  [containerd]="$CONTAINERD_VERSION" [containerd-shim-runc-v2]="$CONTAINERD_VERSION" [ctr]="$CONTAINERD_VERSION"
  [crictl]="$CRICTL_V" [crane]="${CRANE_VERSION}" [pause]="kcarun-lab-pause"
)
version_of() {
  local b="$BIN/$1"
  [ -x "$b" ] || return 1
  case "$1" in
    kubeadm) "$b" version -o short ;;
    kubectl) "$b" version --client ;;
    etcdctl|etcdutl|crane) "$b" version ;;
    containerd-shim-runc-v2) "$b" -v ;;
    pause) "$b" -v ;;
    *) "$b" --version ;;
  esac 2>&1
}
ok_bin() { local out; out="$(version_of "$1")" || return 1; [[ "$out" == *"${want[$1]}"* ]]; }
# A binary of the same version built into another version set's cache by the same recipe
# (BUILD_REVISION, recorded in each cache's build-revision file) is copied instead of rebuilt: etcd,
# containerd, crictl, crane and pause are shared by the Kubernetes minors' version files.
reuse_bin() {
  local b="$1" other
  for other in /var/cache/kcarun/*/bin/"$b"; do
    [ -x "$other" ] && [ "$other" != "$BIN/$b" ] || continue
    [ "$(cat "${other%/bin/*}/build-revision" 2>/dev/null)" = "$BUILD_REVISION" ] || continue
    cp "$other" "$BIN/$b.reuse" && mv "$BIN/$b.reuse" "$BIN/$b"
    if ok_bin "$b"; then log "$b: reused from ${other%/bin/*}"; return 0; fi
    rm -f "$BIN/$b"
  done
  return 1
}
# true when every named binary is there with its pinned version, reused from another cache if need be
ready_bins() { local b; for b in "$@"; do ok_bin "$b" || reuse_bin "$b" || return 1; done; }
ok_all_bins() { local b; for b in "$@"; do ok_bin "$b" || return 1; done; }

timed() { # timed NAME CMD... : runs CMD, appends "NAME seconds" to build-times.txt
  local name="$1"; shift; local t0; t0=$(date +%s)
  "$@"
  echo "$name $(( $(date +%s) - t0 ))s $(date -u +%FT%TZ)" >> "$CACHE/build-times.txt"
  log "$name done in $(( $(date +%s) - t0 ))s"
}

build_crane() {
  ready_bins crane && return 0
  log "crane $CRANE_VERSION"
  mkdir -p "$SRC/crane" && cd "$SRC/crane"
  GOBIN="$BIN" go install "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
  ok_bin crane || { log "crane version check failed: $(version_of crane)"; return 1; }
}

build_pause() {
  ready_bins pause && return 0
  log "pause"
  mkdir -p "$SRC/pause" && cd "$SRC/pause"
  cat > go.mod <<EOF
module kcarun.lab/pause

go 1.22
EOF
  cat > main.go <<'EOF'
// The sandbox holder of every lab pod: sleeps until SIGINT/SIGTERM and reaps orphans, like
// registry.k8s.io/pause. Static, so the image needs nothing else.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("kcarun-lab-pause 1")
		return
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
EOF
  go build -ldflags "-s -w" -o "$BIN/pause" .
}

build_crictl() {
  ready_bins crictl && return 0
  log "crictl $CRI_TOOLS_VERSION"
  mkdir -p "$SRC/cri-tools" && cd "$SRC/cri-tools"
  cat > go.mod <<EOF
module kcarun.lab/cri-tools

go 1.26
EOF
  cat > tools.go <<'EOF'
//go:build tools

package tools

import _ "sigs.k8s.io/cri-tools/cmd/crictl"
EOF
  go get "sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION"
  go mod tidy
  go build -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRI_TOOLS_VERSION" -o "$BIN/crictl" sigs.k8s.io/cri-tools/cmd/crictl
}

build_containerd() {
  ready_bins containerd containerd-shim-runc-v2 ctr && return 0
  log "containerd $CONTAINERD_VERSION"
  mkdir -p "$SRC/containerd" && cd "$SRC/containerd"
  cat > go.mod <<EOF
module kcarun.lab/containerd

go 1.26
EOF
  cat > tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
EOF
  go get "github.com/containerd/containerd/v2@$CONTAINERD_VERSION"
  go mod tidy
  local vpkg=github.com/containerd/containerd/v2/version
  go build -tags "no_btrfs no_devmapper no_zfs no_aufs" \
    -ldflags "-s -w -X $vpkg.Version=$CONTAINERD_VERSION -X $vpkg.Revision=kcarun-lab-build" \
    -o "$BIN/" github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/ctr
}

build_etcd() {
  ready_bins etcd etcdctl etcdutl && return 0
  log "etcd $ETCD_VERSION"
  mkdir -p "$SRC/etcd/cmd/etcd" && cd "$SRC/etcd"
  cat > go.mod <<EOF
module kcarun.lab/etcd

go 1.26
EOF
  cat > cmd/etcd/main.go <<'EOF'
// etcd's own main (go.etcd.io/etcd/server/v3/main.go) in a module of ours, so it builds from the proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  cat > tools.go <<'EOF'
//go:build tools

// etcdctl and etcdutl are main packages: this import keeps them in go.mod through `go mod tidy`.
package tools

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/etcdutl/v3"
)
EOF
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "go.etcd.io/etcd/etcdctl/v3@$ETCD_VERSION" "go.etcd.io/etcd/etcdutl/v3@$ETCD_VERSION"
  go mod tidy
  go build -ldflags "-s -w" -o "$BIN/etcd" ./cmd/etcd
  go build -ldflags "-s -w" -o "$BIN/etcdctl" go.etcd.io/etcd/etcdctl/v3
  go build -ldflags "-s -w" -o "$BIN/etcdutl" go.etcd.io/etcd/etcdutl/v3
}

K8S_CMDS=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler)
build_kubernetes() {
  ok_all_bins "${K8S_CMDS[@]}" && return 0
  log "kubernetes $KUBERNETES_VERSION"
  mkdir -p "$SRC/kubernetes" && cd "$SRC/kubernetes"
  go mod download "k8s.io/kubernetes@$KUBERNETES_VERSION"
  local kmod; kmod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBERNETES_VERSION.mod"
  {
    echo "module kcarun.lab/kubernetes"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "// k8s.io/kubernetes replaces its staging modules with ./staging/...; outside that repository they"
    echo "// must be pinned to their published versions (kubernetes/kubernetes#79384)."
    echo "replace ("
    sed -n 's#^\s*\(k8s\.io/[a-z0-9./-]*\) => \./staging/.*#\t\1 => \1 '"$KUBERNETES_STAGING_VERSION"'#p' "$kmod"
    echo ")"
  } > go.mod
  grep -c ' => ' go.mod | { read -r n; log "replacing $n staging modules"; }
  {
    echo "//go:build tools"
    echo
    echo "package tools"
    echo
    echo "import ("
    for c in "${K8S_CMDS[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
    echo ")"
  } > tools.go
  go mod tidy
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=$K8S_MAJOR -X $p.gitMinor=$K8S_MINOR"
    ld="$ld -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  local pkgs=(); for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  go build -ldflags "$ld" -o "$BIN/" "${pkgs[@]}"
}

build_images() {
  mkdir -p "$IMAGES"
  local list; list="$("$BIN/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION" --image-repository "$IMAGE_REPOSITORY")"
  local todo=() ref name tag file
  for ref in $list; do
    name="${ref##*/}"; tag="${name#*:}"; name="${name%%:*}"
    case "$name" in
      kube-apiserver|kube-controller-manager|kube-scheduler|etcd|pause) ;;
      *) continue ;;   # coredns, kube-proxy: the lab skips those addons
    esac
    [ "$name" = etcd ] && tag="$ETCD_IMAGE_TAG"
    [ -s "$IMAGES/${name}_${tag}.tar" ] || todo+=("$name:$tag")
  done
  printf '%s\n' $list > "$IMAGES/kubeadm-images.txt"
  [ ${#todo[@]} -eq 0 ] && return 0
  # crane mutate reads from a registry: a throwaway in-memory one on loopback, ended by its pid.
  local work; work="$(mktemp -d)"
  "$BIN/crane" registry serve --address 127.0.0.1:0 > "$work/registry.log" 2>&1 &
  REGPID=$!
  local port="" i
  for i in $(seq 1 100); do
    port="$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$work/registry.log")"; [ -n "$port" ] && break; sleep 0.1
  done
  [ -n "$port" ] || { log "crane registry did not start: $(cat "$work/registry.log")"; return 1; }
  local item bins entry root
  for item in "${todo[@]}"; do
    name="${item%%:*}"; tag="${item#*:}"; ref="$IMAGE_REPOSITORY/$name:$tag"; file="$IMAGES/${name}_${tag}.tar"
    case "$name" in
      etcd) bins=(etcd etcdctl etcdutl); entry=/usr/local/bin/etcd ;;
      pause) bins=(); entry=/pause ;;
      *) bins=("$name"); entry="/usr/local/bin/$name" ;;
    esac
    log "image $ref"
    root="$work/$name"; mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" "$root/var/lib/etcd"; chmod 1777 "$root/tmp"
    if [ "$name" = pause ]; then cp "$BIN/pause" "$root/pause"; fi
    for b in "${bins[@]}"; do cp "$BIN/$b" "$root/usr/local/bin/$b"; done
    echo "root:x:0:0:root:/root:/sbin/nologin" > "$root/etc/passwd"; echo "root:x:0:" > "$root/etc/group"
    tar -C "$root" --owner=0 --group=0 --numeric-owner --sort=name --mtime=@0 -cf "$work/$name.layer.tar" .
    "$BIN/crane" append -f "$work/$name.layer.tar" -t "127.0.0.1:$port/$name:$tag" >/dev/null 2>"$work/crane.log" \
      || { cat "$work/crane.log" >&2; return 1; }
    "$BIN/crane" mutate --entrypoint "$entry" -e PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --set-platform linux/amd64 -t "$ref" -o "$file.tmp" "127.0.0.1:$port/$name:$tag" >/dev/null
    mv "$file.tmp" "$file"
  done
  kill "$REGPID" 2>/dev/null || true; wait "$REGPID" 2>/dev/null || true; REGPID=""
  rm -rf "$work"
}

main() {
  if [ "${1:-}" != "--check" ] && ! ok_all_bins "${!want[@]}" 2>/dev/null; then
    command -v go >/dev/null 2>&1 || { echo "build-lab-binaries: needs Go >= 1.26 (Kubernetes $KUBERNETES_VERSION's go directive) on PATH" >&2; exit 1; }
    local gv; gv="$(go env GOVERSION)"; gv="${gv#go}"
    [ "$(printf '%s\n1.26\n' "${gv%.*}" | sort -V | head -1)" = 1.26 ] || { echo "build-lab-binaries: Go $gv is too old (needs >= 1.26)" >&2; exit 1; }
  fi
  if [ "${1:-}" = "--check" ]; then
    local b bad=0; for b in "${!want[@]}"; do ok_bin "$b" || { echo "missing or wrong version: $b" >&2; bad=1; }; done
    exit $bad
  fi
  mkdir -p "$BIN" "$IMAGES" "$SRC"
  local t0; t0=$(date +%s)
  log "cache $CACHE"
  timed crane build_crane
  timed pause build_pause
  timed crictl build_crictl
  timed containerd build_containerd
  timed etcd build_etcd
  timed kubernetes build_kubernetes
  timed images build_images
  local b; for b in "${!want[@]}"; do ok_bin "$b" || { log "FAILED version check: $b: $(version_of "$b" | head -3)"; exit 1; }; done
  # Only a complete build says which recipe made it (reuse_bin trusts this file).
  echo "$BUILD_REVISION" > "$CACHE/build-revision"
  log "all binaries and images ready in $CACHE ($(( $(date +%s) - t0 ))s)"
}
main "$@"
