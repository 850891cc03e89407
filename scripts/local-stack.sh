#!/usr/bin/env bash
# The `local` stack on the project's own control plane and private registry:
#   scripts/local-stack.sh up     start the local control plane (unless KUBECONFIG names a
#                                 cluster) and the private registry, then `pulumi up --stack local`
#                                 (stacks/Pulumi.local.yaml) and its proof (deploy/local.ts)
#   scripts/local-stack.sh down   `pulumi destroy --stack local`, then stop what `up` started
# npm run up:local / npm run down:local run these after compiling deploy/local.ts; the CLI's
# language host runs the program from Pulumi.yaml, as for any stack.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly STATE="${REGISTRY_ACCESS_CACHE:-$HOME/.cache/registry-access}/local-stack"
log() { printf 'local-stack: %s\n' "$*" >&2; }

# The local stack's throwaway passphrase, published on purpose (its one password is throwaway too).
export PULUMI_CONFIG_PASSPHRASE=registry-access-local-throwaway
# Plugins are the ones scripts/pulumi-toolchain.sh registered: the CLI never reaches for the network.
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

command -v pulumi >/dev/null || { log "error: no pulumi on PATH; run: source scripts/setup.sh"; exit 1; }

case "${1:-}" in
  up)
    mkdir -p "${STATE}"
    if [ -z "${KUBECONFIG:-}" ]; then
      # Stopped by `down` only if this started it.
      [ -e "$(scripts/local-cluster.sh kubeconfig)" ] || touch "${STATE}/started-cluster"
      KUBECONFIG="$(scripts/local-cluster.sh up | tail -1)"
    fi
    export KUBECONFIG
    printf '%s\n' "${KUBECONFIG}" >"${STATE}/kubeconfig"
    scripts/local-registry.sh env >/dev/null 2>&1 || touch "${STATE}/started-registry"
    LOCAL_REGISTRY_ENV="$(scripts/local-registry.sh up | tail -1)"
    export LOCAL_REGISTRY_ENV
    pulumi stack select --create local --non-interactive
    node build/deploy/local.js admit
    # --refresh: a local cluster started afresh holds nothing of what the state remembers.
    log "pulumi up --yes --refresh --diff --stack local (KUBECONFIG=${KUBECONFIG})"
    pulumi up --yes --refresh --diff --stack local --non-interactive --color never
    node build/deploy/local.js prove
    ;;
  down)
    if [ -z "${KUBECONFIG:-}" ] && [ -f "${STATE}/kubeconfig" ]; then
      KUBECONFIG="$(cat "${STATE}/kubeconfig")"
      export KUBECONFIG
    fi
    if [ -n "${KUBECONFIG:-}" ] && [ -e "${KUBECONFIG}" ]; then
      log "pulumi destroy --yes --stack local"
      pulumi destroy --yes --stack local --non-interactive --color never
    else
      log "no cluster to destroy the stack on (nothing was started by up:local)"
    fi
    if [ -f "${STATE}/started-registry" ]; then
      scripts/local-registry.sh down
    fi
    if [ -f "${STATE}/started-cluster" ]; then
      scripts/local-cluster.sh down
    fi
    rm -rf "${STATE}"
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
