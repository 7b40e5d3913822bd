#!/usr/bin/env bash
# Builds a pinned Kubernetes release's control-plane programs from the Go module proxy, once per machine:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubeadm, kubectl and kubelet, into
# $NETBOOT_K8S_CACHE/<version>/bin (default /var/cache/netboot/kubernetes/v1.37.2/bin). netboot's
# Kubernetes datastore tests run these on 127.0.0.1; nothing here is part of netboot itself.
#
#   bash scripts/kubernetes.sh           build unless the cache is complete; prints the bin directory
#   bash scripts/kubernetes.sh --dir     prints the bin directory, builds nothing
#   bash scripts/kubernetes.sh --check   exit 0 when the cache is complete, 1 when not (builds nothing)
#
# NETBOOT_K8S_PROGRAMS="kubeadm" builds only the programs named (CI builds kubeadm v1.36.3 this way: the
# last kubeadm that reads kubeadm.k8s.io/v1beta3, which `netboot init --kubeadm-api v1beta3` writes).
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces every k8s.io/* staging module with a
# path inside its own tree. So a wrapper module requires it and replaces each staging module with the
# published one of the same release (v0.<minor>.<patch>). Measured on 2 vCPU shared with other work: 854 s
# for all six (kube-apiserver first), 510 MB of binaries, 600 MB of module cache plus the build cache.
# Needs Go >= the release's `go` line (1.26 for v1.37).
set -euo pipefail

version=${NETBOOT_K8S_VERSION:-v1.37.2}
cache=${NETBOOT_K8S_CACHE:-/var/cache/netboot/kubernetes}/$version
bin=$cache/bin
read -r -a programs <<<"${NETBOOT_K8S_PROGRAMS:-kube-apiserver kube-controller-manager kube-scheduler kubeadm kubectl kubelet}"

complete() {
  [ -f "$bin/.complete" ] || return 1
  local p
  for p in "${programs[@]}"; do [ -x "$bin/$p" ] || return 1; done
}

case "${1:-}" in
  --dir) echo "$bin"; exit 0 ;;
  --check) complete; exit ;;
  "") ;;
  *) sed -n '2,/^set -euo/{/^#/p}' "$0" >&2; exit 2 ;;
esac

if complete; then echo "$bin"; exit 0; fi
# The official Go tarball installs to /usr/local/go, which a non-login shell may not have on PATH.
export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { echo "kubernetes.sh: Go is needed to build Kubernetes $version (none on PATH)" >&2; exit 1; }

mkdir -p "$cache"
# One build per cache at a time: a second caller waits, then finds the cache complete.
exec 9>"$cache/.lock"
flock 9
if complete; then echo "$bin"; exit 0; fi

# The proxy's toolchain downloads are not wanted: build with the installed Go or fail saying so.
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
src=$cache/src
rm -rf "$src" && mkdir -p "$src"
cd "$src"
echo "kubernetes.sh: building Kubernetes $version in $src (several minutes)" >&2

gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
[ -f "$gomod" ] || { echo "kubernetes.sh: the Go module proxy has no k8s.io/kubernetes $version" >&2; exit 1; }
staging_version=v0.${version#v1.}
{
  echo "module netboot.local/kubernetes-build"
  echo
  grep -E '^go [0-9]' "$gomod"
  grep -E '^godebug ' "$gomod" || true
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  echo "replace ("
  sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging_version"'#p' "$gomod"
  echo ")"
} > go.mod
n=$(grep -c ' => k8s.io/' go.mod)
[ "$n" -gt 20 ] || { echo "kubernetes.sh: found only $n staging modules in $gomod" >&2; exit 1; }

# kubeadm refuses a binary without a version; the others report it in /version.
minor=${version#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
out=$cache/bin.tmp
rm -rf "$out" && mkdir -p "$out"
start=$SECONDS
go build -trimpath -ldflags "$ldflags" -o "$out/" "${programs[@]/#/k8s.io/kubernetes/cmd/}"
"$out/kubeadm" version -o short >&2
touch "$out/.complete"
rm -rf "$bin" && mv "$out" "$bin"
rm -rf "$src"
echo "kubernetes.sh: built ${programs[*]} in $((SECONDS - start)) s" >&2
echo "$bin"
