#!/usr/bin/env bash
# npm run test:cluster: the suite against real servers, deploying with the real Pulumi engine and
# providers. Starts a local control plane unless KUBECONFIG already names a cluster, the private
# registries and the team's shared state backends (S3 and PostgreSQL); stops what it started
# whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v pulumi >/dev/null || {
  echo "test:cluster: no pulumi on PATH; run: source scripts/setup.sh" >&2
  exit 1
}

started_cluster=0
cleanup() {
  scripts/local-backends.sh down >&2 || true
  scripts/local-registry.sh down >&2 || true
  if [ "$started_cluster" = 1 ]; then
    scripts/local-cluster.sh down >&2 || true
  fi
}
trap cleanup EXIT

if [ -z "${KUBECONFIG:-}" ]; then
  KUBECONFIG="$(scripts/local-cluster.sh up | tail -1)"
  started_cluster=1
fi
export KUBECONFIG
LOCAL_REGISTRY_ENV="$(scripts/local-registry.sh up | tail -1)"
export LOCAL_REGISTRY_ENV
LOCAL_BACKENDS_ENV="$(scripts/local-backends.sh up | tail -1)"
export LOCAL_BACKENDS_ENV

start=$SECONDS
npx mocha --no-config --timeout 180000 --enable-source-maps 'build/test/cluster/*.test.js'
echo "test:cluster: suite ran in $((SECONDS - start)) s against $(kubectl version -o json 2>/dev/null | node -p 'JSON.parse(require("fs").readFileSync(0)).serverVersion.gitVersion') with pulumi $(pulumi version)" >&2
