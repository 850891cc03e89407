#!/usr/bin/env bash
# The recipe the program replaces, as a shell loop: per namespace, `kubectl create namespace`,
# `kubectl create secret docker-registry` per registry, `kubectl patch serviceaccount default`.
#
#   bench/kubectl-loop.sh TENANTS_FILE
#
# Each line of TENANTS_FILE: NAMESPACE, then SERVER USERNAME PASSWORD for each registry.
# KUBECONFIG names the cluster.
set -euo pipefail

while read -r ns creds; do
  kubectl create namespace "${ns}" >/dev/null
  # shellcheck disable=SC2086 # split into SERVER USERNAME PASSWORD triples on purpose
  set -- ${creds}
  names=()
  while (($#)); do
    name="regcred-${1//./-}"
    kubectl create secret docker-registry "${name}" -n "${ns}" \
      --docker-server="$1" --docker-username="$2" --docker-password="$3" >/dev/null
    names+=("{\"name\":\"${name}\"}")
    shift 3
  done
  patch="{\"imagePullSecrets\":[$(IFS=,; echo "${names[*]}")]}"
  # The serviceaccount controller makes `default` just after the namespace; until it has, the
  # patch fails with NotFound, so it is retried (up to 5 s; retries go to stderr).
  for ((try = 1; ; try++)); do
    kubectl patch serviceaccount default -n "${ns}" -p "${patch}" >/dev/null 2>&1 && break
    ((try < 50)) || { echo "kubectl-loop: ${ns}: the default ServiceAccount never appeared" >&2; exit 1; }
    echo "kubectl-loop: ${ns}: patch retried" >&2
    sleep 0.1
  done
done <"$1"
