#!/usr/bin/env bash
# Two private container registries on 127.0.0.1 for the cluster tests, both real CNCF
# Distribution 2.8 (Debian's `docker-registry`) behind TLS from a throwaway CA:
#   basic  `auth: htpasswd`, a bcrypt user; holds the image team/hello:1.0 (busybox printing a
#          file), and logs which user each authorized request came from
#   token  `auth: token` (Bearer); its token issuer is not started here: the tests run one
#          (test/support/tokenIssuer.ts) on TOKEN_ISSUER_PORT, signing with TOKEN_ISSUER_KEY
#
#   scripts/local-registry.sh up    start both; the last line of stdout is the env file path:
#                                     export LOCAL_REGISTRY_ENV=$(scripts/local-registry.sh up | tail -1)
#   scripts/local-registry.sh down  stop both and remove their state (idempotent)
#   scripts/local-registry.sh env   print the env file path of the running registries
#
# The env file holds KEY=value lines (no quoting needed: no value holds spaces or quotes),
# readable by `source` and by Node's util.parseEnv.
#
# The basic registry re-reads its htpasswd file (REGISTRY_HTPASSWD) whenever the file's mtime
# changes, on the next request carrying Basic credentials: rewrite the file (write a temp file,
# then rename, so it is never read half written) and no restart is needed.
#
# Environment:
#   LOCAL_REGISTRY_DIR      state dir (default /tmp/registry-access-registry)
#   LOCAL_REGISTRY_TIMEOUT  seconds to wait for readiness (default 60)
set -euo pipefail

readonly LOG_NAME=local-registry
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

STATE_DIR="$(realpath -m -- "${LOCAL_REGISTRY_DIR:-/tmp/registry-access-registry}")"
readonly STATE_DIR
readonly ENV_FILE="${STATE_DIR}/env"
# `down` deletes only a directory carrying this file, never one it did not create.
readonly MARKER="${STATE_DIR}/.registry-access-local-registry"
readonly LOCK_FILE="${STATE_DIR}.lock"
readonly TIMEOUT="${LOCAL_REGISTRY_TIMEOUT:-60}"
# Below Linux's ephemeral range (32768-60999), so outgoing connections cannot be holding them;
# a taken one moves to the next free port.
readonly DEFAULT_BASIC_PORT=15000 DEFAULT_TOKEN_PORT=15001 DEFAULT_ISSUER_PORT=15002
readonly PACKAGES=(docker-registry skopeo umoci apache2-utils openssl curl busybox-static)
readonly USERNAME=ci-pusher
readonly IMAGE_REPO=team/hello IMAGE_TAG=1.0
# The same image under more names, for the doctor's tenants (each its own repository) and a
# repository the token tests make public.
readonly MORE_REPOS=(tenant-a/app tenant-b/app public/hello)
readonly TOKEN_SERVICE=registry-access-test
readonly TOKEN_ISSUER_NAME=registry-access-test-issuer
readonly PROCESSES=(basic token)

# ---------------------------------------------------------------- processes

binary_of() { echo docker-registry; }

label_of() { echo "$1 registry"; }

exited_message() { echo "the $1 registry exited while starting"; }

start_instance() {
  local name="$1"
  spawn "${name}" docker-registry serve "${STATE_DIR}/${name}/config.yml"
  await_exec "${name}" 50 0.02 1 || die "the ${name} registry did not start; see ${STATE_DIR}/logs/${name}.log"
}

# HTTP status of an anonymous GET /v2/; 000 when nothing answers.
v2_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "${STATE_DIR}/pki/ca.crt" \
    "https://127.0.0.1:$1/v2/" 2>/dev/null || true
}

# A registry with auth answers an anonymous /v2/ with 401 and a challenge.
answers_401() { [[ "$(v2_status "$1")" == 401 ]]; }

wait_ready() {
  wait_until 0.1 "the $1 registry on 127.0.0.1:$2" "$1" answers_401 "$2"
}

running() {
  [[ -f "${ENV_FILE}" ]] && all_running &&
    answers_401 "$(sed -n 's/^REGISTRY_BASIC_HOST=127\.0\.0\.1://p' "${ENV_FILE}")"
}

# ---------------------------------------------------------------- state

make_pki() {
  local pki="${STATE_DIR}/pki"
  mkdir -p "${pki}" "${STATE_DIR}/certs.d"
  write_openssl_cnf "${pki}/openssl.cnf" digitalSignature "IP:127.0.0.1, DNS:localhost"
  # EC P-256 keys: generated in milliseconds, where RSA takes noticeably longer.
  run_quiet openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 2 \
    -config "${pki}/openssl.cnf" -extensions ca -subj /CN=registry-access-test-ca \
    -keyout "${pki}/ca.key" -out "${pki}/ca.crt"
  run_quiet openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -config "${pki}/openssl.cnf" \
    -subj /CN=127.0.0.1 -keyout "${pki}/server.key" -out "${pki}/server.csr"
  run_quiet openssl x509 -req -days 2 -in "${pki}/server.csr" -CA "${pki}/ca.crt" -CAkey "${pki}/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -extfile "${pki}/openssl.cnf" -extensions server \
    -out "${pki}/server.crt"
  # skopeo's --cert-dir trusts every *.crt in a directory.
  cp "${pki}/ca.crt" "${STATE_DIR}/certs.d/ca.crt"
  # The token issuer's signing key; its self-signed cert is the registry's rootcertbundle, so
  # a JWT verifies either by its x5c chain or by a kid naming this key.
  run_quiet openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 2 \
    -config "${pki}/openssl.cnf" -subj /CN=registry-access-test-token-issuer \
    -keyout "${pki}/token-signing.key" -out "${pki}/token-signing.crt"
}

# Distribution config: TLS on 127.0.0.1:PORT, storage in the state dir, then the auth block.
write_config() {
  local name="$1" port="$2" auth="$3"
  mkdir -p "${STATE_DIR}/${name}/data"
  cat >"${STATE_DIR}/${name}/config.yml" <<EOF
version: 0.1
log:
  # debug: the lines of an authorized request carry auth.user.name (GetImageManifest, ...), so
  # the log shows which user pulled; at info only failed requests do.
  level: debug
  formatter: text
storage:
  filesystem:
    rootdirectory: ${STATE_DIR}/${name}/data
http:
  addr: 127.0.0.1:${port}
  secret: $(openssl rand -hex 16)
  tls:
    certificate: ${STATE_DIR}/pki/server.crt
    key: ${STATE_DIR}/pki/server.key
${auth}
EOF
}

# containerd's registry configuration (its CRI config_path, as scripts/local-cluster.sh sets it):
# HTTPS with this CA. Without it containerd would speak plain HTTP to a loopback registry.
write_containerd_hosts() {
  local host="127.0.0.1:$1"
  mkdir -p "${STATE_DIR}/containerd-hosts/${host}"
  cat >"${STATE_DIR}/containerd-hosts/${host}/hosts.toml" <<EOF
server = "https://${host}"
[host."https://${host}"]
  capabilities = ["pull", "resolve"]
  ca = "${STATE_DIR}/pki/ca.crt"
EOF
}

make_state() {
  make_state_dir
  make_pki
  PASSWORD="$(openssl rand -hex 16)"
  # Written before the registry starts: Distribution creates a missing htpasswd file with a
  # random user of its own.
  htpasswd -Bbn "${USERNAME}" "${PASSWORD}" | sed '/^$/d' >"${STATE_DIR}/htpasswd"
  write_config basic "${BASIC_PORT}" "auth:
  htpasswd:
    realm: registry-access-basic
    path: ${STATE_DIR}/htpasswd"
  write_containerd_hosts "${BASIC_PORT}"
  write_containerd_hosts "${TOKEN_PORT}"
  write_config token "${TOKEN_PORT}" "auth:
  token:
    realm: https://127.0.0.1:${ISSUER_PORT}/token
    service: ${TOKEN_SERVICE}
    issuer: ${TOKEN_ISSUER_NAME}
    rootcertbundle: ${STATE_DIR}/pki/token-signing.crt"
}

# The image the registry holds: busybox printing a file.
build_image() {
  mkdir -p "${STATE_DIR}/image"
  busybox_image "${STATE_DIR}/image/oci" "${IMAGE_TAG}" add_hello_file cat /hello.txt
}

add_hello_file() { echo "hello from registry-access" >"$1/hello.txt"; }

push_image() {
  # --insecure-policy: no signature policy is needed for an image built here a moment ago.
  run_quiet skopeo copy --insecure-policy --dest-cert-dir "${STATE_DIR}/certs.d" \
    --dest-creds "${USERNAME}:${PASSWORD}" \
    "oci:${STATE_DIR}/image/oci:${IMAGE_TAG}" "docker://127.0.0.1:${BASIC_PORT}/${IMAGE_REPO}:${IMAGE_TAG}"
  local repo
  for repo in "${MORE_REPOS[@]}"; do
    run_quiet skopeo copy --insecure-policy --dest-cert-dir "${STATE_DIR}/certs.d" \
      --dest-creds "${USERNAME}:${PASSWORD}" \
      "oci:${STATE_DIR}/image/oci:${IMAGE_TAG}" "docker://127.0.0.1:${BASIC_PORT}/${repo}:${IMAGE_TAG}"
  done
}

write_env() {
  local tmp="${ENV_FILE}.tmp"
  {
    echo "REGISTRY_DIR=${STATE_DIR}"
    echo "REGISTRY_BASIC_HOST=127.0.0.1:${BASIC_PORT}"
    echo "REGISTRY_TOKEN_HOST=127.0.0.1:${TOKEN_PORT}"
    echo "REGISTRY_CA=${STATE_DIR}/pki/ca.crt"
    echo "REGISTRY_CERT_DIR=${STATE_DIR}/certs.d"
    echo "REGISTRY_CONTAINERD_HOSTS=${STATE_DIR}/containerd-hosts"
    echo "REGISTRY_BASIC_LOG=${STATE_DIR}/logs/basic.log"
    echo "REGISTRY_TLS_CERT=${STATE_DIR}/pki/server.crt"
    echo "REGISTRY_TLS_KEY=${STATE_DIR}/pki/server.key"
    echo "REGISTRY_HTPASSWD=${STATE_DIR}/htpasswd"
    echo "REGISTRY_USER=${USERNAME}"
    echo "REGISTRY_PASSWORD=${PASSWORD}"
    echo "REGISTRY_IMAGE=${IMAGE_REPO}:${IMAGE_TAG}"
    echo "REGISTRY_MORE_REPOS=$(IFS=,; echo "${MORE_REPOS[*]}")"
    echo "TOKEN_ISSUER_PORT=${ISSUER_PORT}"
    echo "TOKEN_REALM=https://127.0.0.1:${ISSUER_PORT}/token"
    echo "TOKEN_ISSUER_KEY=${STATE_DIR}/pki/token-signing.key"
    echo "TOKEN_ISSUER_CERT=${STATE_DIR}/pki/token-signing.crt"
    echo "TOKEN_SERVICE=${TOKEN_SERVICE}"
    echo "TOKEN_ISSUER_NAME=${TOKEN_ISSUER_NAME}"
    echo "REGISTRY_BASIC_PID_FILE=${STATE_DIR}/basic.pid"
    echo "REGISTRY_TOKEN_PID_FILE=${STATE_DIR}/token.pid"
  } >"${tmp}"
  # Renamed into place complete, so a reader never sees half a file.
  mv "${tmp}" "${ENV_FILE}"
}

start_registries() {
  local t0
  t0="$(now_ms)"
  DEADLINE_MS=$((t0 + TIMEOUT * 1000))
  BASIC_PORT="$(pick_port "${DEFAULT_BASIC_PORT}")"
  TOKEN_PORT="$(pick_port "${DEFAULT_TOKEN_PORT}" "${BASIC_PORT}")"
  ISSUER_PORT="$(pick_port "${DEFAULT_ISSUER_PORT}" "${BASIC_PORT}" "${TOKEN_PORT}")"
  make_state
  STARTING=1
  start_instance basic
  build_image
  wait_ready basic "${BASIC_PORT}"
  push_image
  # The token registry gets the image through the filesystem: a push to it would need a
  # running token issuer, which only the tests start.
  cp -a "${STATE_DIR}/basic/data/." "${STATE_DIR}/token/data/"
  start_instance token
  wait_ready token "${TOKEN_PORT}"
  write_env
  STARTING=0
  log "ready in $(fmt_s $(($(now_ms) - t0))) s: basic https://127.0.0.1:${BASIC_PORT}, token https://127.0.0.1:${TOKEN_PORT} (issuer port ${ISSUER_PORT}), state in ${STATE_DIR}"
}

on_exit() {
  local rc=$?
  stop_failed_start
  exit "${rc}"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  # Every path goes into the env file unquoted.
  [[ "${STATE_DIR}" =~ ^[A-Za-z0-9._/-]+$ ]] || die "LOCAL_REGISTRY_DIR must use only letters, digits and . _ / -"
  lock
  if running; then
    log "already running"
    printf '%s\n' "${ENV_FILE}"
    return 0
  fi
  # Leftovers of a run that died or was half stopped.
  remove_state
  ensure_packages --timed "${PACKAGES[@]}"
  start_registries
  printf '%s\n' "${ENV_FILE}"
}

cmd_env() {
  running || die "not running; start it with: $0 up"
  printf '%s\n' "${ENV_FILE}"
}

usage() {
  echo "usage: $0 up|down|env" >&2
  exit 2
}

trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  *) usage ;;
esac
