#!/usr/bin/env bash
# Installs everything a fresh Debian machine lacks for netboot's build, tests and benchmarks:
# kernel-facing tools (iproute2, nftables, strace), the reference CNI plugins and etcd the tests
# compare against, the UAPI headers the bindings generator reads, pnpm, and the node modules.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

need_apt=()
for pkg in iproute2 nftables strace containernetworking-plugins etcd-server etcd-client linux-libc-dev \
           gcc libc6-dev iputils-ping hyperfine jq; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== apt: installing ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

want_pnpm=$(node -p "require('./package.json').packageManager.split('@')[1].split('+')[0]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$want_pnpm" ]; then
  echo "== npm: installing pnpm@$want_pnpm"
  npm install -g --no-fund --no-audit "pnpm@$want_pnpm" >/dev/null
fi

echo "== pnpm install"
pnpm install --frozen-lockfile --reporter=append-only 2>&1 | tail -n 3
