#!/usr/bin/env bash
# A password rotation as the kubectl recipe does it, as a shell loop: per namespace, the pull
# Secret written again with `kubectl create secret docker-registry --dry-run=client -o yaml`
# piped to `kubectl apply -f -`.
#
#   bench/kubectl-rotate.sh SECRET_NAME TENANTS_FILE
#
# Each line of TENANTS_FILE: NAMESPACE SERVER USERNAME PASSWORD. KUBECONFIG names the cluster.
set -euo pipefail

name=$1
while read -r ns server username password; do
  kubectl create secret docker-registry "${name}" -n "${ns}" \
    --docker-server="${server}" --docker-username="${username}" --docker-password="${password}" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
done <"$2"
