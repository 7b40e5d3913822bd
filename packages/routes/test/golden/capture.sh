#!/usr/bin/env bash
# Records the requests iproute2 sends for the ipip mode (this kernel has no ipip driver, so the mode's
# requests are checked against these bytes instead of against the kernel):
#   ipip-add.hex    ip link add netboot.ipip mtu 1480 type ipip local 192.168.1.11   (refused here: EOPNOTSUPP)
#   ipip-route.hex  ip route replace 10.244.2.0/24 via 192.168.1.12 dev netboot.ipip onlink proto 78
# The route's device is a bridge named netboot.ipip standing in for the tunnel (ifindex 2): `ip` only
# needs the name to resolve. Same method and file format as packages/core/test/golden/capture.sh,
# whose extract.ts this reuses.
#
#   sudo bash packages/routes/test/golden/capture.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
extract="$repo/packages/core/test/golden/extract.ts"
NS="nbt-golden-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
work=$(mktemp -d)
trap 'ip netns del "$NS" 2>/dev/null || true; rm -rf "$work"' EXIT

capture() { # slug type setup command…
  local slug=$1 type=$2 setup=$3
  shift 3
  ip netns del "$NS" 2>/dev/null || true
  ip netns add "$NS"
  if [ -n "$setup" ]; then ip -n "$NS" $setup; fi
  strace -f -o "$work/strace.log" -e trace=sendmsg -e write=all -xx -s 65535 "$1" -n "$NS" "${@:2}" >/dev/null 2>&1 || true
  (cd "$repo" && node --import tsx "$extract" --log "$work/strace.log" --direction request --type "$type" \
    --command "$1 -n \$NS ${*:2}" --out "$here/$slug.hex")
  echo "  $slug.hex"
}

capture ipip-add RTM_NEWLINK '' ip link add netboot.ipip mtu 1480 type ipip local 192.168.1.11
capture ipip-route RTM_NEWROUTE 'link add netboot.ipip type bridge' ip route replace 10.244.2.0/24 via 192.168.1.12 dev netboot.ipip onlink proto 78
