#!/usr/bin/env bash
# Records the nf_tables set-element requests nft sends, for test/nft.test.ts: golden/nft/<slug>.hex holds
# the NEWSETELEM/DELSETELEM message of the batch (the BATCH_BEGIN/END around it are checked in the test).
#
#   sudo bash packages/core/test/golden/capture-nft.sh     # needs root, nft, strace, node + tsx
#
# Runs in a throwaway nbt-golden-nft-<random> namespace holding the CNI plugin's table layout. seq and
# pid are zeroed. NFTA_SET_ELEM_LIST_SET_ID (nft's own transaction handle for the set) stays in the
# file; the test drops it before comparing, since a set that already exists is found by name.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
NS="nbt-golden-nft-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
work=$(mktemp -d)
trap 'ip netns del "$NS" 2>/dev/null || true; rm -rf "$work"' EXIT
ip netns add "$NS"
ip netns exec "$NS" nft -f - <<'NFT'
add table inet netboot-cni
add set inet netboot-cni pods4 { type ipv4_addr; }
add set inet netboot-cni pods6 { type ipv6_addr; }
add set inet netboot-cni nets4 { type ipv4_addr; flags interval; }
add element inet netboot-cni nets4 { 10.244.0.0/24 }
NFT

# fixture SLUG 'nft command'
fixture() {
  ip netns exec "$NS" strace -f -e trace=sendmsg -e write=all -xx -s 65535 -o "$work/log" nft $2
  (cd "$here/../.." && node --import tsx -e "
    const { readFileSync, writeFileSync } = await import('node:fs');
    const { parseStraceLog } = await import('./test/golden/extract.ts');
    const data = Buffer.from(parseStraceLog(readFileSync('$work/log', 'utf8')).filter((c) => c.call === 'sendmsg').at(-1).data);
    // the batch: BEGIN (20 bytes), the change, END; keep the change
    const len = data.readUInt32LE(20);
    const msg = Buffer.from(data.subarray(20, 20 + len));
    msg.writeUInt32LE(0, 8); msg.writeUInt32LE(0, 12);
    const hex = msg.toString('hex').match(/.{1,64}/g).join('\n');
    writeFileSync('$here/nft/$1.hex', '# nft ' + process.argv[1] + '\n# direction: request\n# normalised: seq, pid\n' + hex + '\n');
  " "$2")
  echo "nft/$1.hex"
}
fixture add-element-v4 'add element inet netboot-cni pods4 { 10.244.1.5 }'
fixture add-element-v6 'add element inet netboot-cni pods6 { fd00::5 }'
fixture add-element-comment 'add element inet netboot-cni pods4 { 10.244.1.6 comment "net1 veth1234" }'
fixture delete-element-v4 'delete element inet netboot-cni pods4 { 10.244.1.5 }'
fixture add-element-interval 'add element inet netboot-cni nets4 { 10.244.1.0/24 }'
