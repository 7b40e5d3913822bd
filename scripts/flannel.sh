#!/usr/bin/env bash
# Builds flanneld, the peer bench/agent.ts measures netboot's agent against, from its Go module at a
# pinned release, once per machine, into $NETBOOT_FLANNEL_CACHE/<version>/flanneld (default
# /var/cache/netboot/flannel/v0.28.10/flanneld), and prints that path. Nothing in netboot uses it.
#
#   bash scripts/flannel.sh           build unless cached; prints the flanneld path
#   bash scripts/flannel.sh --path    prints the path, builds nothing
#   bash scripts/flannel.sh --check   exit 0 when cached, 1 when not (builds nothing)
#
# The module's source comes from the Go module proxy (`go mod download`), is copied out of the
# read-only module cache and built there with -mod=mod, as flannel's Makefile builds it (its version
# stamped by -ldflags, CGO on amd64 for the UDP backend). One change: main.go's blank import of the
# tencentvpc backend is dropped, because the proxy refuses its SDK module (403 "not available") and
# the bench runs only host-gw and vxlan. Needs Go >= the release's `go` line (1.26).
set -euo pipefail

version=${NETBOOT_FLANNEL_VERSION:-v0.28.10}
cache=${NETBOOT_FLANNEL_CACHE:-/var/cache/netboot/flannel}/$version
bin=$cache/flanneld

case "${1:-}" in
  --path) echo "$bin"; exit 0 ;;
  --check) [ -x "$bin" ]; exit ;;
  "") ;;
  *) sed -n '2,/^set -euo/{/^#/p}' "$0" >&2; exit 2 ;;
esac

if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { echo "flannel.sh: Go is needed to build flanneld $version (none on PATH)" >&2; exit 1; }

mkdir -p "$cache"
# One build per cache at a time: a second caller waits, then finds flanneld there.
exec 9>"$cache/.lock"
flock 9
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

export GOTOOLCHAIN=local GOFLAGS=-mod=mod
echo "flannel.sh: building flanneld $version (a minute or two)" >&2
dir=$(cd /tmp && go mod download -json "github.com/flannel-io/flannel@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -f "$dir/go.mod" ] || { echo "flannel.sh: the Go module proxy has no github.com/flannel-io/flannel $version" >&2; exit 1; }
src=$cache/src
rm -rf "$src" && cp -r "$dir" "$src" && chmod -R u+w "$src"
cd "$src"
sed -i '\#"github.com/flannel-io/flannel/pkg/backend/tencentvpc"#d' main.go
start=$SECONDS
CGO_ENABLED=1 go build -trimpath -o "$bin.tmp" \
  -ldflags "-s -w -X github.com/flannel-io/flannel/pkg/version.Version=$version" .
"$bin.tmp" --version >&2
mv "$bin.tmp" "$bin"
rm -rf "$src"
echo "flannel.sh: built flanneld $version in $((SECONDS - start)) s" >&2
echo "$bin"
