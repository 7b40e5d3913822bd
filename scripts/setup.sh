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
           gcc libc6-dev iputils-ping hyperfine jq \
           podman runc busybox-static containerd time; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need_apt+=("$pkg")
done
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
# linux-libc-dev must be at least the version the committed bindings were generated from: stable
# updates do add UAPI enum members (6.1.176 → 6.1.192 added IFLA_HSR_INTERLINK), so an older image's
# headers would make `pnpm gen` differ from the commit. Raise LIBC_DEV_MIN when regenerating from newer headers.
LIBC_DEV_MIN=6.1.192
libc_dev=$(dpkg-query -W -f='${Version}' linux-libc-dev 2>/dev/null || true)
if [ ${#need_apt[@]} -eq 0 ] && [ -n "$libc_dev" ] && dpkg --compare-versions "$libc_dev" ge "$LIBC_DEV_MIN"; then
  echo "== apt: nothing missing, linux-libc-dev $libc_dev"
else
  echo "== apt: ${need_apt[*]:-nothing missing}; linux-libc-dev ${libc_dev:-missing} to the current version (>= $LIBC_DEV_MIN)"
  # Another apt (unattended-upgrades at boot, a second setup) may hold the locks. DPkg::Lock::Timeout makes
  # `install` wait for dpkg's lock, but apt 2.6's `update` takes the lists lock without any timeout (measured:
  # it fails at once), so update is retried while that lock is busy, for as long as install would wait.
  deadline=$((SECONDS + 600))
  until out=$($SUDO apt-get update -qq 2>&1); do
    if ! grep -q 'Could not get lock' <<<"$out" || [ $SECONDS -ge $deadline ]; then echo "$out" >&2; exit 1; fi
    echo "== apt: another apt process holds the lists lock; waiting"
    sleep 5
  done
  [ -z "$out" ] || echo "$out"
  $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need_apt[@]}" linux-libc-dev >/dev/null
fi

want_pnpm=$(node -p "require('./package.json').packageManager.split('@')[1].split('+')[0]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$want_pnpm" ]; then
  echo "== npm: installing pnpm@$want_pnpm"
  npm install -g --no-fund --no-audit "pnpm@$want_pnpm" >/dev/null
fi

echo "== pnpm install"
pnpm install --frozen-lockfile --reporter=append-only 2>&1 | tail -n 3
