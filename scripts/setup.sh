#!/usr/bin/env bash
# Installs everything a fresh Debian machine lacks for netboot's build, tests and benchmarks:
# kernel-facing tools (iproute2, nftables, strace), the reference CNI plugins and etcd the tests
# compare against, the UAPI headers the bindings generator reads, pnpm, and the node modules.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

need_apt=()
for pkg in iproute2 nftables strace containernetworking-plugins etcd-server etcd-client \
           gcc libc6-dev iputils-ping hyperfine jq; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need_apt+=("$pkg")
done
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
# linux-libc-dev is always brought up to the archive's current version: the committed bindings are
# generated from it, and stable updates do add UAPI enum members (6.1.176 → 6.1.192 added
# IFLA_HSR_INTERLINK), so an older image's headers would make `pnpm gen` differ from the commit.
echo "== apt: ${need_apt[*]:-nothing missing}; linux-libc-dev to the current version"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need_apt[@]}" linux-libc-dev >/dev/null

want_pnpm=$(node -p "require('./package.json').packageManager.split('@')[1].split('+')[0]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$want_pnpm" ]; then
  echo "== npm: installing pnpm@$want_pnpm"
  npm install -g --no-fund --no-audit "pnpm@$want_pnpm" >/dev/null
fi

echo "== pnpm install"
pnpm install --frozen-lockfile --reporter=append-only 2>&1 | tail -n 3
