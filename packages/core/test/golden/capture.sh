#!/usr/bin/env bash
# Records golden netlink messages for the codec tests: the request iproute2 sends for each command
# below, and a few of the kernel's replies, one `<object>/<slug>.hex` file each beside this script.
#
#   sudo bash packages/core/test/golden/capture.sh      # needs root, iproute2, strace, node + tsx
#
# Each fixture runs in a fresh throwaway namespace (nbt-golden-<random>, recreated per fixture so that
# ifindexes are always lo=1 then the setup's devices in order; deleted on exit). Its setup commands run
# first, untraced; then the command runs under
#   strace -f -e trace=sendmsg -e write=all -xx -s 65535 ip -n $NS …    (requests)
#   strace -f -e trace=recvmsg -e read=all  -xx -s 65535 ip -n $NS …    (replies)
# and extract.ts keeps the one message of the fixture's type. Only sendmsg is traced for requests:
# iproute2's preliminary probes (e.g. the empty RTM_NEWLINK it sends to test for RTM_NEWLINK support)
# go out with sendto, and its name lookups are RTM_GETLINK, so neither matches.
#
# File format: `# <command, namespace shown as $NS>`, `# direction: request|reply`,
# `# normalised: …`, then the message as lowercase hex, 64 characters a line. nlmsg_seq and nlmsg_pid
# are zeroed (iproute2 seeds seq from the clock; pid is a port id), and so are the few reply fields
# that are timestamps or randomised (listed on the normalised line). Everything else is fixed by the
# commands: names, MACs, addresses, VNIs.
#
# Replies come from the running kernel, requests from the installed iproute2: re-capturing on another
# kernel or iproute2 version may change them (the header of each reply fixture does not say which).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
NS="nbt-golden-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
work=$(mktemp -d)

cleanup() {
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in ip bridge strace node; do
  command -v "$tool" >/dev/null || { echo "capture.sh: $tool not found (apt-get install iproute2 strace)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "capture.sh: needs root (network namespaces)" >&2; exit 1; }

fresh_ns() {
  ip netns del "$NS" 2>/dev/null || true
  ip netns add "$NS"
}

# setup 'ip link add …; ip link set …' — each `ip …` / `bridge …` runs with `-n $NS`.
setup() {
  local cmd
  local -a words
  IFS=';' read -ra cmds <<<"$1"
  for cmd in "${cmds[@]}"; do
    IFS=' ' read -ra words <<<"$cmd"
    [ ${#words[@]} -eq 0 ] && continue
    "${words[0]}" -n "$NS" "${words[@]:1}"
  done
}

# fixture OBJECT/SLUG request|reply TYPE 'SETUP' 'COMMAND' [--fails] [extract.ts options…]
#   --fails: the command is expected to fail (for error replies); otherwise a failure stops the script.
fixture() {
  local id=$1 direction=$2 type=$3 pre=$4 cmd=$5
  shift 5
  # ONLY=route/add-dev,route/add-v6-dev re-captures just those fixtures.
  if [ -n "${ONLY:-}" ] && [[ ",$ONLY," != *",$id,"* ]]; then return 0; fi
  local fails=
  if [ "${1:-}" = --fails ]; then fails=1; shift; fi
  local -a words
  IFS=' ' read -ra words <<<"$cmd"
  local tool=${words[0]}
  local -a args=("${words[@]:1}")
  local trace=sendmsg dump=write
  if [ "$direction" = reply ]; then trace=recvmsg dump=read; fi

  fresh_ns
  setup "$pre"
  if ! strace -f -o "$work/strace.log" -e trace="$trace" -e "$dump"=all -xx -s 65535 \
      "$tool" -n "$NS" "${args[@]}" >"$work/out" 2>&1; then
    if [ -z "$fails" ]; then
      echo "capture.sh: $id: '$tool -n \$NS ${args[*]}' failed:" >&2
      cat "$work/out" >&2
      exit 1
    fi
  elif [ -n "$fails" ]; then
    echo "capture.sh: $id: '$tool -n \$NS ${args[*]}' was expected to fail" >&2
    exit 1
  fi
  (cd "$repo" && node --import tsx "$here/extract.ts" --log "$work/strace.log" --direction "$direction" \
    --type "$type" --command "$tool -n \$NS ${args[*]}" --out "$here/$id.hex" "$@")
  echo "  $id.hex ($direction $type)"
}

# Setups shared by several fixtures.
VETH='ip link add vA address 02:00:00:00:00:0a type veth peer name vB address 02:00:00:00:00:0b'
VETH2='ip link add vC address 02:00:00:00:00:0c type veth peer name vD address 02:00:00:00:00:0d'
UP='ip link set vA up; ip link set vB up'
V4="$VETH; $UP; ip addr add 10.0.0.1/24 dev vA"
V6="$VETH; ip addr add fd00::1/64 dev vA nodad; $UP"
BR='ip link add br0 address 02:00:00:00:00:b0 type bridge'
VX='ip link add vx0 address 02:00:00:00:00:42 type vxlan id 42 dstport 4789 local 10.0.0.1 nolearning'
R100='ip route add 10.10.0.0/16 via 10.0.0.2 dev vA table 100 proto 200 metric 10'
MULTI='ip route add 10.30.0.0/16 table 100 proto 200 nexthop via 10.0.0.2 dev vA weight 1 nexthop via 10.0.1.2 dev vC weight 2'

echo "capturing into $here (namespace $NS)"

# ---- links
fixture link/add-veth request RTM_NEWLINK '' 'ip link add vA type veth peer name vB'
fixture link/add-veth-address request RTM_NEWLINK '' "$VETH"
fixture link/add-bridge request RTM_NEWLINK '' 'ip link add br0 type bridge'
fixture link/add-vxlan request RTM_NEWLINK '' 'ip link add vx0 type vxlan id 42 dstport 4789 local 10.0.0.1 nolearning'
fixture link/add-macvlan request RTM_NEWLINK "$VETH" 'ip link add mv0 link vA type macvlan mode bridge'
fixture link/set-up request RTM_NEWLINK "$VETH" 'ip link set vA up'
fixture link/set-mtu request RTM_NEWLINK "$VETH" 'ip link set vA mtu 1400'
fixture link/set-master request RTM_NEWLINK "$VETH; $BR" 'ip link set vA master br0'
fixture link/del request RTM_DELLINK "$VETH" 'ip link del vA'
fixture link/show-veth reply RTM_NEWLINK "$VETH" 'ip link show dev vA' --fd 3

# ---- addresses
fixture addr/add-v4 request RTM_NEWADDR "$VETH" 'ip addr add 10.244.1.1/24 dev vA'
fixture addr/add-v6-nodad request RTM_NEWADDR "$VETH" 'ip addr add fd00::1/64 dev vA nodad'
fixture addr/del-v4 request RTM_DELADDR "$VETH; ip addr add 10.244.1.1/24 dev vA" 'ip addr del 10.244.1.1/24 dev vA'
fixture addr/show-v4 reply RTM_NEWADDR "$VETH; ip addr add 10.244.1.1/24 dev vA" 'ip -4 addr show dev vA' --fd 3

# ---- routes
fixture route/add-via request RTM_NEWROUTE "$V4" "$R100"
fixture route/replace request RTM_NEWROUTE "$V4; $R100" \
  'ip route replace 10.10.0.0/16 via 10.0.0.3 dev vA table 100 proto 200 metric 10'
fixture route/del request RTM_DELROUTE "$V4; $R100" 'ip route del 10.10.0.0/16 via 10.0.0.2 dev vA table 100 metric 10'
fixture route/add-onlink request RTM_NEWROUTE "$V4" 'ip route add 10.20.0.0/16 via 10.99.0.1 dev vA onlink'
fixture route/add-table-1000 request RTM_NEWROUTE "$V4" 'ip route add 10.40.0.0/16 via 10.0.0.2 dev vA table 1000'
fixture route/add-multipath request RTM_NEWROUTE \
  "$V4; $VETH2; ip link set vC up; ip link set vD up; ip addr add 10.0.1.1/24 dev vC" "$MULTI"
fixture route/add-v6 request RTM_NEWROUTE "$V6" 'ip -6 route add fd10::/64 via fd00::2 dev vA metric 10'
fixture route/add-dev request RTM_NEWROUTE "$V4" 'ip route add 10.50.0.0/16 dev vA'
fixture route/add-v6-dev request RTM_NEWROUTE "$V6" 'ip -6 route add fd20::/64 dev vA'
fixture route/show-table-100 reply RTM_NEWROUTE "$V4; $R100" 'ip route show table 100' --fd 3
fixture route/show-multipath reply RTM_NEWROUTE \
  "$V4; $VETH2; ip link set vC up; ip link set vD up; ip addr add 10.0.1.1/24 dev vC; $MULTI" \
  'ip route show table 100' --fd 3

# ---- nexthop objects, and a route through one
NH7='ip nexthop add id 7 via 10.0.0.2 dev vA proto 78'
fixture nexthop/add-via request RTM_NEWNEXTHOP "$V4" "$NH7"
fixture nexthop/replace-onlink request RTM_NEWNEXTHOP "$V4; $NH7" 'ip nexthop replace id 7 via 10.99.0.1 dev vA onlink proto 78'
fixture nexthop/add-v6 request RTM_NEWNEXTHOP "$V6" 'ip -6 nexthop add id 9 via fd00::2 dev vA proto 78'
fixture nexthop/del request RTM_DELNEXTHOP "$V4; $NH7" 'ip nexthop del id 7'
fixture nexthop/show reply RTM_NEWNEXTHOP "$V4; $NH7" 'ip nexthop show' --fd 3
fixture route/add-nhid request RTM_NEWROUTE "$V4; $NH7" 'ip route add 10.60.0.0/16 nhid 7 proto 78'

# ---- neighbours and FDB
fixture neigh/replace-permanent request RTM_NEWNEIGH "$V4" \
  'ip neigh replace 10.0.0.9 lladdr 02:00:00:00:00:09 nud permanent dev vA'
fixture neigh/show-permanent reply RTM_NEWNEIGH \
  "$V4; ip neigh replace 10.0.0.9 lladdr 02:00:00:00:00:09 nud permanent dev vA" 'ip -4 neigh show dev vA' --fd 3
fixture fdb/append-vxlan request RTM_NEWNEIGH "$VX" \
  'bridge fdb append 00:11:22:33:44:55 dev vx0 dst 10.0.0.2 self permanent'

# ---- policy-routing rules (the reply setup drops the default main/default rules, so ours is the last one listed)
RULE='ip rule add from 10.244.0.0/16 table 100 priority 1000'
fixture rule/add-from request RTM_NEWRULE '' "$RULE"
fixture rule/del request RTM_DELRULE "$RULE" 'ip rule del from 10.244.0.0/16 table 100 priority 1000'
fixture rule/show reply RTM_NEWRULE "$RULE; ip rule del priority 32766; ip rule del priority 32767" 'ip -4 rule show' --fd 3 --pick last

# ---- acknowledgements and errors (NLMSG_ERROR; the last one is the answer to the command itself)
fixture errors/ack reply NLMSG_ERROR "$VETH" 'ip link set vA up' --fd 3 --pick last
fixture errors/link-add-exists reply NLMSG_ERROR "$VETH" 'ip link add vA type veth peer name vB' --fails --fd 3 --pick last
fixture errors/mtu-too-big reply NLMSG_ERROR "$VETH" 'ip link set vA mtu 100000' --fails --fd 3 --pick last

echo "done"
