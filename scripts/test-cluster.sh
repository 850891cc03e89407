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
# The doctor's second client (built from Go modules once, cached).
CRANE="$(scripts/crane.sh | tail -1)"
export CRANE

# Two mocha processes at once, then isolation alone, since it restarts the API server and the
# kubelet. Group B (the state backends, the API server) shares nothing the other files change:
# the registries' htpasswd and token issuer port, the node's images, the paused
# controller-manager. Every other file, new ones included, goes in group A, one at a time.
readonly ALONE=(isolation)
readonly GROUP_B=(teams deploy existingNamespace fleet permissions stackReading selectors randomProvider)
group_a=() group_b=() alone=()
for file in build/test/cluster/*.test.js; do
  name="$(basename "${file}" .test.js)"
  if [[ " ${ALONE[*]} " == *" ${name} "* ]]; then
    alone+=("${file}")
  elif [[ " ${GROUP_B[*]} " == *" ${name} "* ]]; then
    group_b+=("${file}")
  else
    group_a+=("${file}")
  fi
done
suite() { npx mocha --no-config --timeout 180000 --enable-source-maps "$@"; }

start=$SECONDS
log_b="$(mktemp /tmp/registry-access-cluster-b-XXXXXX.log)"
suite "${group_b[@]}" >"${log_b}" 2>&1 &
pid_b=$!
rc_a=0 rc_b=0
suite "${group_a[@]}" || rc_a=$?
wait "${pid_b}" || rc_b=$?
echo "test:cluster: group B (${GROUP_B[*]}):" >&2
cat "${log_b}"
rm -f "${log_b}"
echo "test:cluster: groups A and B ran in $((SECONDS - start)) s (exit ${rc_a} and ${rc_b})" >&2
((rc_a == 0 && rc_b == 0)) || exit 1
suite "${alone[@]}"
echo "test:cluster: suite ran in $((SECONDS - start)) s against $(kubectl version -o json 2>/dev/null | node -p 'JSON.parse(require("fs").readFileSync(0)).serverVersion.gitVersion') with pulumi $(pulumi version)" >&2
