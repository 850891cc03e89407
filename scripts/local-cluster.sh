#!/usr/bin/env bash
# A local Kubernetes cluster on 127.0.0.1 for the cluster tests and the local stack: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, and one node (kubelet, containerd).
#
#   scripts/local-cluster.sh up          start it; the last line of stdout is the kubeconfig path:
#                                          export KUBECONFIG=$(scripts/local-cluster.sh up | tail -1)
#   scripts/local-cluster.sh down        stop it and remove its state
#   scripts/local-cluster.sh kubeconfig  print the kubeconfig path
#   scripts/local-cluster.sh isolation MODE   restart the API server and the kubelet of the running
#                                          cluster with another image isolation (below)
#
# Docker, kind, k3s and minikube are not needed: Kubernetes (toolchain/kubernetes) and etcd
# (toolchain/etcd) are built once from their Go modules and cached. One node runs pods: the
# kubelet with Debian's containerd and runc, on a host bridge (README.md, "Tests").
#
# Environment:
#   KUBECONFIG              if it names an existing file, `up` uses that cluster and starts nothing
#   LOCAL_CLUSTER_FORCE=1   start the local cluster even when KUBECONFIG is set
#   LOCAL_CLUSTER_NODE=0    control plane only (etcd, apiserver, controller-manager): no node,
#                           no scheduler, no bridge; for what needs an API server and no pods
#                           (npm run bench). `down` reads the mode from the state dir.
#   LOCAL_CLUSTER_DIR       state dir (default /tmp/registry-access-cluster)
#   LOCAL_CLUSTER_TIMEOUT   seconds to wait for the cluster to become ready (default 120)
#   LOCAL_CLUSTER_ISOLATION what keeps one namespace from running another's pulled private images
#                           (README.md, "Tenants on a shared node"): kubelet (default: the
#                           KubeletEnsureSecretPulledImages gate), always-pull (the AlwaysPullImages
#                           admission plugin) or none (Kubernetes' default: a cached image runs
#                           for any pod). The running cluster's mode is in its ports file.
#   REGISTRY_ACCESS_CACHE   where the built binaries are kept (default ~/.cache/registry-access)
set -euo pipefail

readonly LOG_NAME=local-cluster
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
K8S_VERSION="$(required_version "${ROOT}/toolchain/kubernetes" k8s.io/kubernetes)"
K8S_VERSION="${K8S_VERSION#v}"
ETCD_VERSION="$(required_version "${ROOT}/toolchain/etcd" go.etcd.io/etcd/server/v3)"
ETCD_VERSION="${ETCD_VERSION#v}"
readonly K8S_VERSION ETCD_VERSION
readonly CACHE_ROOT="${REGISTRY_ACCESS_CACHE:-${HOME}/.cache/registry-access}"
# Keyed by both versions and the wrappers' go.sum: a bump rebuilds.
BIN_DIR="${CACHE_ROOT}/kubernetes-${K8S_VERSION}-etcd-${ETCD_VERSION}-$(cat "${ROOT}"/toolchain/{kubernetes,etcd}/go.sum | sha256sum | cut -c1-12)/bin"
readonly BIN_DIR
STATE_DIR="$(realpath -m -- "${LOCAL_CLUSTER_DIR:-/tmp/registry-access-cluster}")"
readonly STATE_DIR
readonly KUBECONFIG_PATH="${STATE_DIR}/kubeconfig"
# 1: with the node; 0: control plane only. A running cluster's mode is in its ports file.
# (A ports file without the line is from before the mode existed: with the node.)
NODE="${LOCAL_CLUSTER_NODE:-1}"
if [[ -f "${STATE_DIR}/ports" ]]; then
  NODE="$(sed -n 's/^NODE=//p' "${STATE_DIR}/ports")"
  NODE="${NODE:-1}"
fi
[[ "${NODE}" == 0 || "${NODE}" == 1 ]] || { echo "local-cluster: LOCAL_CLUSTER_NODE must be 0 or 1" >&2; exit 2; }
readonly NODE
ISOLATION="${LOCAL_CLUSTER_ISOLATION:-kubelet}"
valid_isolation() { [[ "$1" == kubelet || "$1" == always-pull || "$1" == none ]]; }
valid_isolation "${ISOLATION}" || { echo "local-cluster: LOCAL_CLUSTER_ISOLATION must be kubelet, always-pull or none" >&2; exit 2; }
# `down` deletes only a directory carrying this file, never one it did not create.
readonly MARKER="${STATE_DIR}/.registry-access-local-cluster"
readonly LOCK_FILE="${CACHE_ROOT}/local-cluster.lock"
readonly TIMEOUT="${LOCAL_CLUSTER_TIMEOUT:-120}"
# Defaults lie below Linux's ephemeral range (32768-60999), so outgoing connections
# cannot be holding them; if one is taken, the next free port above it is used.
readonly DEFAULT_API_PORT=16443 DEFAULT_ETCD_PORT=12379 DEFAULT_PEER_PORT=12380
readonly SERVICE_CIDR=10.0.0.0/24 SERVICE_IP=10.0.0.1
# The node: Debian's containerd and runc, its CNI plugins, and busybox for the sandbox image.
if ((NODE)); then
  readonly PACKAGES=(openssl containerd runc containernetworking-plugins busybox-static umoci skopeo iproute2)
else
  readonly PACKAGES=(openssl)
fi
# The pods' bridge, whose gateway address is also the node's: a kubelet refuses a loopback node
# IP, and this one is reachable from this machine only.
readonly NODE_NAME=registry-access-node POD_CIDR=10.88.0.0/24 NODE_IP=10.88.0.1 BRIDGE=ra-cni0
readonly SANDBOX_IMAGE=registry-access.local/pause:1
# Where scripts/local-registry.sh writes containerd's HOST:PORT/hosts.toml (HTTPS, its CA).
REGISTRY_HOSTS_D="$(realpath -m -- "${LOCAL_REGISTRY_DIR:-/tmp/registry-access-registry}")/containerd-hosts"
readonly REGISTRY_HOSTS_D
# Stop order: clients first, etcd last.
if ((NODE)); then
  readonly PROCESSES=(kubelet scheduler controller-manager apiserver containerd etcd)
else
  readonly PROCESSES=(controller-manager apiserver etcd)
fi

BUILD_WORK=""   # temp build tree, removed on exit
POD_NETNS=()    # the pods' network namespaces, found before containerd stops
STAGED_BIN=""   # half-installed cache dir, removed on exit

binary_of() {
  case "$1" in
    etcd) echo etcd ;;
    apiserver) echo kube-apiserver ;;
    controller-manager) echo kube-controller-manager ;;
    scheduler) echo kube-scheduler ;;
    kubelet) echo kubelet ;;
    containerd) echo containerd ;;
  esac
}

label_of() { binary_of "$1"; }

exited_message() { echo "$(binary_of "$1") exited while waiting for $2"; }

kc() { kubectl --kubeconfig "${KUBECONFIG_PATH}" --request-timeout=5s "$@"; }

ctr_() { ctr --address "${STATE_DIR}/containerd/containerd.sock" --namespace k8s.io "$@"; }

node_ready() {
  [[ "$(kc get node "${NODE_NAME}" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

containerd_ready() { ctr_ version >/dev/null 2>&1; }

apiserver_ready() { kc get --raw=/readyz >/dev/null 2>&1; }

# The serviceaccount controller is running once it has made default/default.
default_sa_ready() { kc -n default get serviceaccount default >/dev/null 2>&1; }

etcd_listening() { (: <"/dev/tcp/127.0.0.1/${ETCD_PORT}") 2>/dev/null; }

cluster_running() {
  [[ -f "${KUBECONFIG_PATH}" ]] && all_running && apiserver_ready
}

# ---------------------------------------------------------------- build

# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and etcd from their Go
# modules through the wrappers in toolchain/ (go.mod and go.sum committed), once per version.
build_binaries() {
  if [[ -x "${BIN_DIR}/kube-apiserver" && -x "${BIN_DIR}/etcd" ]]; then
    return 0
  fi
  local go t0 ldflags pkg build_date
  go="$(find_go)"
  t0="$(now_ms)"
  BUILD_WORK="$(mktemp -d "${TMPDIR:-/tmp}/registry-access-k8s-build.XXXXXX")"
  log "building Kubernetes v${K8S_VERSION} (apiserver, controller-manager, scheduler, kubelet) and etcd v${ETCD_VERSION} from Go modules with $("${go}" env GOVERSION) (once; many minutes)"
  # Without these the servers report v0.0.0. The build date is the release's, so that two
  # builds of one version are the same.
  build_date="$(cd "${ROOT}/toolchain/kubernetes" && GOTOOLCHAIN=local "${go}" list -m -f '{{.Time.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=v${K8S_VERSION} -X ${pkg}.gitMajor=${K8S_VERSION%%.*}"
    ldflags+=" -X ${pkg}.gitMinor=$(cut -d. -f2 <<<"${K8S_VERSION}") -X ${pkg}.gitTreeState=archive -X ${pkg}.buildDate=${build_date}"
  done
  (cd "${ROOT}/toolchain/kubernetes" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 \
    "${go}" build -trimpath -ldflags "${ldflags}" -o "${BUILD_WORK}/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet) >&2 ||
    die "building Kubernetes v${K8S_VERSION} failed (the go command's error is above)"
  log "Kubernetes built in $(fmt_s $(($(now_ms) - t0))) s"
  (cd "${ROOT}/toolchain/etcd" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 \
    "${go}" build -trimpath -ldflags "-s -w" -o "${BUILD_WORK}/bin/etcd" go.etcd.io/etcd/server/v3) >&2 ||
    die "building etcd v${ETCD_VERSION} failed (the go command's error is above)"

  [[ "$("${BUILD_WORK}/bin/kube-apiserver" --version)" == "Kubernetes v${K8S_VERSION}" ]] ||
    die "the built kube-apiserver does not report v${K8S_VERSION}"

  # Install by renaming a complete directory, so an interrupted build never leaves a
  # cache that looks warm but holds one binary or a truncated one.
  mkdir -p "${BIN_DIR%/*}"
  STAGED_BIN="$(mktemp -d "${BIN_DIR}.partial.XXXXXX")"
  cp "${BUILD_WORK}"/bin/* "${STAGED_BIN}/"
  chmod 0755 "${STAGED_BIN}" "${STAGED_BIN}"/*
  rm -rf "${BIN_DIR}"
  mv -T "${STAGED_BIN}" "${BIN_DIR}"
  STAGED_BIN=""
  rm -rf "${BUILD_WORK}"
  BUILD_WORK=""
  log "built in $(fmt_s $(($(now_ms) - t0))) s; binaries cached in ${BIN_DIR}"
}

# ---------------------------------------------------------------- state

write_kubeconfig() {
  local path="$1" user="$2" token="$3" ca_data
  ca_data="$(base64 -w0 <"${STATE_DIR}/pki/ca.crt")"
  cat >"${path}" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: registry-access-local
  cluster:
    server: https://127.0.0.1:${API_PORT}
    certificate-authority-data: ${ca_data}
users:
- name: ${user}
  user:
    token: ${token}
contexts:
- name: registry-access-local
  context:
    cluster: registry-access-local
    user: ${user}
current-context: registry-access-local
EOF
}

# issue_cert NAME SUBJECT CNF EXTENSIONS: pki/NAME.key and pki/NAME.crt, signed by the cluster CA.
issue_cert() {
  local pki="${STATE_DIR}/pki" name="$1" subject="$2" cnf="${STATE_DIR}/pki/$3" extensions="$4"
  run_quiet openssl req -new -nodes -newkey rsa:2048 -config "${cnf}" \
    -subj "${subject}" -keyout "${pki}/${name}.key" -out "${pki}/${name}.csr"
  run_quiet openssl x509 -req -days 365 -in "${pki}/${name}.csr" -CA "${pki}/ca.crt" -CAkey "${pki}/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -extfile "${cnf}" -extensions "${extensions}" -out "${pki}/${name}.crt"
}

make_state() {
  local pki="${STATE_DIR}/pki" admin_token kcm_token
  make_state_dir
  mkdir -p "${pki}" "${STATE_DIR}/etcd"

  # A throwaway CA signs the serving cert; the CA also becomes ca.crt in SA token Secrets.
  write_openssl_cnf "${pki}/openssl.cnf" "digitalSignature, keyEncipherment" \
    "IP:127.0.0.1, IP:${SERVICE_IP}, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local"
  run_quiet openssl req -x509 -new -nodes -newkey rsa:2048 -days 365 -config "${pki}/openssl.cnf" \
    -extensions ca -subj /CN=registry-access-local-ca -keyout "${pki}/ca.key" -out "${pki}/ca.crt"
  issue_cert apiserver /CN=kube-apiserver openssl.cnf server
  # The kubelet serves (logs, exec) on the node IP with a cert of the same CA; the apiserver reaches
  # it with a client cert the kubelet trusts.
  write_openssl_cnf "${pki}/kubelet.cnf" "digitalSignature, keyEncipherment" "IP:${NODE_IP}, DNS:${NODE_NAME}"
  issue_cert kubelet "/CN=${NODE_NAME}" kubelet.cnf server
  issue_cert apiserver-kubelet-client /O=system:masters/CN=kube-apiserver-kubelet-client openssl.cnf client
  # Signs ServiceAccount tokens (controller-manager) and verifies them (apiserver).
  run_quiet openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "${pki}/sa.key"
  run_quiet openssl pkey -in "${pki}/sa.key" -pubout -out "${pki}/sa.pub"

  # Static tokens: an admin for the tests, one for the controller-manager. Both are in
  # system:masters, so nothing waits on the RBAC bootstrap policy.
  admin_token="$(openssl rand -hex 32)"
  kcm_token="$(openssl rand -hex 32)"
  printf '%s\n' "${admin_token},admin,admin,system:masters" \
    "${kcm_token},system:kube-controller-manager,kube-controller-manager,system:masters" >"${pki}/tokens.csv"
  write_kubeconfig "${KUBECONFIG_PATH}" admin "${admin_token}"
  write_kubeconfig "${STATE_DIR}/controller-manager.kubeconfig" system:kube-controller-manager "${kcm_token}"
  # The scheduler and the kubelet use the controller-manager's identity (system:masters): one
  # node on loopback, not a Node-authorized kubelet with its own certificate.
  cp "${STATE_DIR}/controller-manager.kubeconfig" "${STATE_DIR}/node.kubeconfig"
}

# ---------------------------------------------------------------- node

# A sandbox ("pause") image, since registry.k8s.io is out of reach: busybox sleeping, built
# offline with umoci, cached as an OCI archive.
sandbox_image_archive() {
  local archive="${CACHE_ROOT}/sandbox-image.tar" work
  if [[ ! -f "${archive}" ]]; then
    work="$(mktemp -d "${TMPDIR:-/tmp}/registry-access-sandbox.XXXXXX")"
    busybox_image "${work}/oci" 1 "" sleep 2147483647
    run_quiet skopeo copy --insecure-policy "oci:${work}/oci:1" "oci-archive:${archive}.tmp:${SANDBOX_IMAGE}"
    mv "${archive}.tmp" "${archive}"
    rm -rf "${work}"
  fi
  echo "${archive}"
}

write_node_config() {
  local dir="${STATE_DIR}/node" kubelet_port="$1" healthz_port="$2"
  mkdir -p "${dir}/cni" "${STATE_DIR}/containerd"
  # containerd trusts the local registry's CA through its own registry configuration: config_path
  # holds a HOST:PORT/hosts.toml per registry, which local-registry.sh writes (read at each pull).
  cat >"${dir}/containerd.toml" <<EOF
version = 2
root = "${STATE_DIR}/containerd/root"
state = "${STATE_DIR}/containerd/state"
[grpc]
  address = "${STATE_DIR}/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${SANDBOX_IMAGE}"
  # Sandboxes ask for oom_score_adj -998, which a process without CAP_SYS_RESOURCE (as here)
  # may not set: keep scores at or above containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${dir}/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${REGISTRY_HOSTS_D}"
EOF
  # One bridge on the host for the pods, addresses from host-local.
  cat >"${dir}/cni/10-registry-access.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "registry-access",
  "plugins": [
    {"type": "bridge", "bridge": "${BRIDGE}", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "${POD_CIDR}"}]], "dataDir": "${dir}/ipam"}},
    {"type": "loopback"}
  ]
}
EOF
  # cgroupfs, no swap check, no QoS cgroups or node allocatable enforcement, eviction only when
  # the machine is really short: a test node on a shared machine, not a production one.
  cat >"${dir}/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${NODE_IP}
port: ${kubelet_port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${healthz_port}
tlsCertFile: ${STATE_DIR}/pki/kubelet.crt
tlsPrivateKeyFile: ${STATE_DIR}/pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: ${STATE_DIR}/pki/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://${STATE_DIR}/containerd/containerd.sock
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
serializeImagePulls: false
resolvConf: /etc/resolv.conf
EOF
  # Alpha in 1.34: the kubelet records which pull secret pulled each image and makes a pod
  # without a matching one pull again with its own credentials (images present before it
  # recorded anything, such as the imported sandbox image, are not re-checked).
  if [[ "${ISOLATION}" == kubelet ]]; then
    printf '%s\n' "featureGates: {KubeletEnsureSecretPulledImages: true}" \
      "imagePullCredentialsVerificationPolicy: NeverVerifyPreloadedImages" >>"${dir}/kubelet.yaml"
  fi
}

start_node() {
  local kubelet_port healthz_port
  kubelet_port="$(pick_port 10250 "${API_PORT}" "${ETCD_PORT}")"
  healthz_port="$(pick_port 10248 "${API_PORT}" "${ETCD_PORT}" "${kubelet_port}")"
  printf '%s\n' "KUBELET_PORT=${kubelet_port}" "HEALTHZ_PORT=${healthz_port}" >>"${STATE_DIR}/ports"
  write_node_config "${kubelet_port}" "${healthz_port}"
  ip link add "${BRIDGE}" type bridge 2>/dev/null || true
  ip addr replace "${NODE_IP}/24" dev "${BRIDGE}"
  ip link set "${BRIDGE}" up
  start_component containerd containerd --config "${STATE_DIR}/node/containerd.toml"
  wait_for "containerd" containerd_ready
  run_quiet ctr_ images import "$(sandbox_image_archive)"
  start_kubelet
}

start_kubelet() {
  start_component kubelet "${BIN_DIR}/kubelet" \
    --config="${STATE_DIR}/node/kubelet.yaml" \
    --kubeconfig="${STATE_DIR}/node.kubeconfig" \
    --hostname-override="${NODE_NAME}" \
    --node-ip="${NODE_IP}" \
    --root-dir="${STATE_DIR}/kubelet" \
    --cert-dir="${STATE_DIR}/kubelet/pki"
  wait_for "node ${NODE_NAME} to be Ready" node_ready
}

# Pods outlive the kubelet: their containers are stopped through containerd while it runs.
before_stop_all() {
  local pid id i
  ((NODE)) || return 0
  if pid="$(pid_of kubelet)"; then
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      pid_runs "${pid}" kubelet || break
      sleep 0.1
    done
  fi
  pid_of containerd >/dev/null || return 0
  # The pods' network namespaces, which only a CRI sandbox stop would remove.
  POD_NETNS=()
  for id in $(ctr_ containers ls -q 2>/dev/null); do
    mapfile -t -O "${#POD_NETNS[@]}" POD_NETNS < <(ctr_ containers info "${id}" 2>/dev/null | grep -o '/var/run/netns/cni-[0-9a-f-]*' | sort -u)
  done
  for id in $(ctr_ tasks ls -q 2>/dev/null); do
    ctr_ tasks kill -s SIGKILL "${id}" >/dev/null 2>&1 || true
  done
  for id in $(ctr_ tasks ls -q 2>/dev/null); do
    ctr_ tasks delete -f "${id}" >/dev/null 2>&1 || true
  done
}

# What containerd and the kubelet leave: shims, mounts under the state dir, the pod bridge.
after_stop_all() {
  local pid mnt
  # Without a node there is nothing of ours there, and the bridge may be another cluster's.
  ((NODE)) || return 0
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address ${STATE_DIR}/containerd/containerd.sock" || true); do
    kill -KILL "${pid}" 2>/dev/null || true
  done
  while read -r mnt; do
    umount -l "${mnt}" 2>/dev/null || true
  done < <(awk -v d="${STATE_DIR}/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
  ip link delete "${BRIDGE}" 2>/dev/null || true
  for mnt in "${POD_NETNS[@]}"; do
    ip netns delete "${mnt##*/}" 2>/dev/null || true
  done
}

# ---------------------------------------------------------------- processes

start_component() {
  spawn "$@"
  await_exec "$1" 100 0.05 0 || die "$(binary_of "$1") did not start"
}

# Polls CMD... until it succeeds; dies when a started component exits or TIMEOUT passes.
wait_for() {
  local what="$1"
  shift
  wait_until 0.2 "${what}" "${STARTED[*]}" "$@"
}

# --endpoint-reconciler-type=none: otherwise the apiserver keeps writing a loopback address into
# the `kubernetes` Endpoints, which validation rejects.
start_apiserver() {
  local admission=()
  [[ "${ISOLATION}" != always-pull ]] || admission=(--enable-admission-plugins=AlwaysPullImages)
  start_component apiserver "${BIN_DIR}/kube-apiserver" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="${API_PORT}" \
    --etcd-servers="http://127.0.0.1:${ETCD_PORT}" \
    --cert-dir="${STATE_DIR}/pki" \
    --tls-cert-file="${STATE_DIR}/pki/apiserver.crt" \
    --tls-private-key-file="${STATE_DIR}/pki/apiserver.key" \
    --token-auth-file="${STATE_DIR}/pki/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="${STATE_DIR}/pki/sa.pub" \
    --service-account-signing-key-file="${STATE_DIR}/pki/sa.key" \
    --service-cluster-ip-range="${SERVICE_CIDR}" \
    --endpoint-reconciler-type=none \
    --kubelet-client-certificate="${STATE_DIR}/pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="${STATE_DIR}/pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="${STATE_DIR}/pki/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --profiling=false "${admission[@]}"
  wait_for "kube-apiserver /readyz on 127.0.0.1:${API_PORT}" apiserver_ready
}

start_cluster() {
  local t0 peer_port
  t0="$(now_ms)"
  # Keys, tokens and the admin kubeconfig are for this user only.
  umask 077
  DEADLINE_MS=$((t0 + TIMEOUT * 1000))
  API_PORT="$(pick_port "${DEFAULT_API_PORT}")"
  ETCD_PORT="$(pick_port "${DEFAULT_ETCD_PORT}" "${API_PORT}")"
  peer_port="$(pick_port "${DEFAULT_PEER_PORT}" "${API_PORT}" "${ETCD_PORT}")"
  make_state
  printf '%s\n' "API_PORT=${API_PORT}" "ETCD_PORT=${ETCD_PORT}" "PEER_PORT=${peer_port}" "NODE=${NODE}" "ISOLATION=${ISOLATION}" >"${STATE_DIR}/ports"
  STARTING=1

  # Client and peer URLs on loopback only; one member, data in the state dir.
  start_component etcd "${BIN_DIR}/etcd" --name=registry-access \
    --data-dir="${STATE_DIR}/etcd" \
    --listen-client-urls="http://127.0.0.1:${ETCD_PORT}" \
    --advertise-client-urls="http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls="http://127.0.0.1:${peer_port}" \
    --initial-advertise-peer-urls="http://127.0.0.1:${peer_port}" \
    --initial-cluster="registry-access=http://127.0.0.1:${peer_port}" \
    --initial-cluster-state=new
  wait_for "etcd on 127.0.0.1:${ETCD_PORT}" etcd_listening

  start_apiserver

  # Only the controllers users rely on: `serviceaccount` creates `default` in each namespace,
  # `serviceaccount-token` fills the token Secrets a user asks for, `namespace` empties and
  # finalizes deleted namespaces (without it they stay Terminating), `job` runs Jobs' pods,
  # `garbagecollector` deletes what an owner leaves behind, and `root-ca-cert-publisher` writes
  # the kube-root-ca.crt ConfigMap every pod's token volume needs, `nodelifecycle` lifts the
  # node's not-ready taint once it is Ready. No port (--secure-port=0).
  start_component controller-manager "${BIN_DIR}/kube-controller-manager" \
    --kubeconfig="${STATE_DIR}/controller-manager.kubeconfig" \
    --controllers=serviceaccount,serviceaccount-token,namespace,job,garbagecollector,root-ca-cert-publisher,nodelifecycle \
    --leader-elect=false \
    --secure-port=0 \
    --service-account-private-key-file="${STATE_DIR}/pki/sa.key" \
    --root-ca-file="${STATE_DIR}/pki/ca.crt"
  wait_for "the default/default ServiceAccount" default_sa_ready

  if ((NODE)); then
    start_component scheduler "${BIN_DIR}/kube-scheduler" \
      --kubeconfig="${STATE_DIR}/node.kubeconfig" \
      --leader-elect=false \
      --secure-port=0
    start_node
  fi

  STARTING=0
  log "ready in $(fmt_s $(($(now_ms) - t0))) s$( ((NODE)) || echo " (control plane only)"): https://127.0.0.1:${API_PORT} (etcd 127.0.0.1:${ETCD_PORT}, peer ${peer_port}), state in ${STATE_DIR}"
}

on_exit() {
  local rc=$?
  stop_failed_start
  [[ -z "${STAGED_BIN}" ]] || rm -rf "${STAGED_BIN}"
  [[ -z "${BUILD_WORK}" ]] || rm -rf "${BUILD_WORK}"
  exit "${rc}"
}

# A KUBECONFIG naming an existing file means "use that cluster" (unless it is our own).
external_kubeconfig() {
  [[ "${LOCAL_CLUSTER_FORCE:-}" != 1 && -n "${KUBECONFIG:-}" && "${KUBECONFIG}" != "${KUBECONFIG_PATH}" ]] || return 1
  local files file
  IFS=: read -r -a files <<<"${KUBECONFIG}"
  for file in "${files[@]}"; do
    [[ -f "${file}" ]] && return 0
  done
  return 1
}

# ---------------------------------------------------------------- commands

cmd_up() {
  if external_kubeconfig; then
    log "KUBECONFIG is set (${KUBECONFIG}); using that cluster, starting nothing (LOCAL_CLUSTER_FORCE=1 overrides)"
    # Printed so that `export KUBECONFIG=$(... up | tail -1)` keeps it.
    printf '%s\n' "${KUBECONFIG}"
    return 0
  fi
  command -v kubectl >/dev/null 2>&1 || die "kubectl is needed to check readiness"
  lock
  if cluster_running; then
    log "already running ($(grep -E '^(API_PORT|ISOLATION)=' "${STATE_DIR}/ports" 2>/dev/null | tr '\n' ' ' || true))"
    printf '%s\n' "${KUBECONFIG_PATH}"
    return 0
  fi
  # Leftovers of a run that died or was half stopped.
  remove_state
  ensure_packages "${PACKAGES[@]}"
  build_binaries
  start_cluster
  printf '%s\n' "${KUBECONFIG_PATH}"
}

# Stops NAME (TERM, then KILL after 10 s) so that it can be started again with other settings.
stop_component() {
  local pid i
  pid="$(pid_of "$1")" || return 0
  kill -TERM "${pid}" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    pid_runs "${pid}" "$(binary_of "$1")" || return 0
    sleep 0.1
  done
  kill -KILL "${pid}" 2>/dev/null || true
}

cmd_isolation() {
  local mode="${1:-}" t0
  valid_isolation "${mode}" || die "isolation takes kubelet, always-pull or none"
  lock
  cluster_running || die "not running; start it with: LOCAL_CLUSTER_ISOLATION=${mode} $0 up"
  ((NODE)) || die "a control plane without a node runs no pods"
  t0="$(now_ms)"
  DEADLINE_MS=$((t0 + TIMEOUT * 1000))
  ISOLATION="${mode}"
  API_PORT="$(sed -n 's/^API_PORT=//p' "${STATE_DIR}/ports")"
  ETCD_PORT="$(sed -n 's/^ETCD_PORT=//p' "${STATE_DIR}/ports")"
  sed -i "s/^ISOLATION=.*/ISOLATION=${mode}/" "${STATE_DIR}/ports"
  # Running pods and pulled images stay: containerd is not restarted.
  stop_component kubelet
  stop_component apiserver
  start_apiserver
  write_node_config "$(sed -n 's/^KUBELET_PORT=//p' "${STATE_DIR}/ports")" "$(sed -n 's/^HEALTHZ_PORT=//p' "${STATE_DIR}/ports")"
  start_kubelet
  log "isolation ${mode} in $(fmt_s $(($(now_ms) - t0))) s"
}

usage() {
  echo "usage: $0 up|down|kubeconfig|isolation kubelet|always-pull|none" >&2
  exit 2
}

trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  kubeconfig) printf '%s\n' "${KUBECONFIG_PATH}" ;;
  isolation) cmd_isolation "${2:-}" ;;
  *) usage ;;
esac
