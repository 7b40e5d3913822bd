#!/usr/bin/env bash
# `pnpm example` (as root): the seeds' three-node cluster on this machine — `netboot lab up` (underlay,
# outside host, three nodes each running the agent, two pods each made by the CNI plugin), `netboot lab
# check` (every pod to every pod, node and the outside; the exit code says whether all passed), and
# `netboot lab down`, which always runs (trap), also when up or check failed or you pressed Ctrl-C.
# Extra arguments go to `lab up`: pnpm example --mode host-gw --datastore etcd
set -euo pipefail
cd "$(dirname "$0")/.."
netboot() { node --conditions=source --import tsx packages/bootstrap/src/cli/main.ts "$@"; }
name=${NETBOOT_LAB_NAME:-netboot-example}
trap 'netboot lab down --name "$name"' EXIT
netboot lab up --name "$name" "$@"
netboot lab check --name "$name"
