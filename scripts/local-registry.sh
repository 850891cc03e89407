#!/usr/bin/env bash
# Two private container registries on 127.0.0.1 for the cluster tests, both real CNCF
# Distribution 2.8 (Debian's `docker-registry`) behind TLS from a throwaway CA:
#   basic  `auth: htpasswd`, a bcrypt user; holds the image team/hello:1.0
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

STATE_DIR="$(realpath -m -- "${LOCAL_REGISTRY_DIR:-/tmp/registry-access-registry}")"
readonly STATE_DIR
readonly ENV_FILE="${STATE_DIR}/env"
# `down` deletes only a directory carrying this file, never one it did not create.
readonly MARKER="${STATE_DIR}/.registry-access-local-registry"
readonly TIMEOUT="${LOCAL_REGISTRY_TIMEOUT:-60}"
# Below Linux's ephemeral range (32768-60999), so outgoing connections cannot be holding them;
# a taken one moves to the next free port.
readonly DEFAULT_BASIC_PORT=15000 DEFAULT_TOKEN_PORT=15001 DEFAULT_ISSUER_PORT=15002
readonly PACKAGES=(docker-registry skopeo umoci apache2-utils openssl curl)
readonly USERNAME=ci-pusher
readonly IMAGE_REPO=team/hello IMAGE_TAG=1.0
readonly TOKEN_SERVICE=registry-access-test
readonly TOKEN_ISSUER_NAME=registry-access-test-issuer
readonly INSTANCES=(basic token)

STARTING=0 # 1 while `up` is starting processes: on failure they are stopped again
DEADLINE_MS=0

log() { printf 'local-registry: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

now_ms() {
  local us="${EPOCHREALTIME//[.,]/}"
  echo $((us / 1000))
}

# Milliseconds as seconds with one decimal.
fmt_s() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }

# Runs a noisy command silently, showing its output only when it fails.
run_quiet() {
  local out
  # fd 9 (the lock) is closed so nothing started here keeps it.
  if ! out="$("$@" 2>&1 9>&-)"; then
    printf '%s\n' "${out}" >&2
    return 1
  fi
}

as_root() {
  if [[ ${EUID} -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "needs root (or sudo) to run: $*"
  fi
}

# ---------------------------------------------------------------- packages

package_installed() {
  # shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

ensure_packages() {
  local missing=() pkg t0
  for pkg in "${PACKAGES[@]}"; do
    package_installed "${pkg}" || missing+=("${pkg}")
  done
  ((${#missing[@]} == 0)) && return 0
  t0="$(now_ms)"
  log "installing ${missing[*]}"
  run_quiet as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  run_quiet as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  log "installed in $(fmt_s $(($(now_ms) - t0))) s"
}

# ---------------------------------------------------------------- processes

# True when PID is alive and still runs docker-registry: a pid file can outlive its process
# and the number be reused, so the command line is checked before anything is signalled.
pid_runs() {
  local pid="$1" argv0
  kill -0 "${pid}" 2>/dev/null || return 1
  IFS= read -r -d '' argv0 <"/proc/${pid}/cmdline" 2>/dev/null || return 1
  [[ "${argv0##*/}" == docker-registry ]]
}

# Prints the pid of an instance started by this script, if it is still running.
pid_of() {
  local file="${STATE_DIR}/$1.pid" pid
  [[ -r "${file}" ]] || return 1
  pid="$(<"${file}")"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  pid_runs "${pid}" || return 1
  echo "${pid}"
}

start_instance() {
  local name="$1"
  # Own session, stdin/stdout detached: the registry outlives `up` and does not hold the
  # caller's pipe open (`$(... up | tail -1)` would never return) nor the lock (fd 9).
  setsid docker-registry serve "${STATE_DIR}/${name}/config.yml" \
    </dev/null >"${STATE_DIR}/logs/${name}.log" 2>&1 9>&- &
  local pid=$! i
  echo "${pid}" >"${STATE_DIR}/${name}.pid"
  # Until setsid has exec'd, the pid's command line is still setsid's.
  for ((i = 0; i < 50; i++)); do
    pid_runs "${pid}" && return 0
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.02
  done
  die "the ${name} registry did not start; see ${STATE_DIR}/logs/${name}.log"
}

stop_instances() {
  local name pid i
  for name in "${INSTANCES[@]}"; do
    pid="$(pid_of "${name}")" || continue
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      pid_runs "${pid}" || break
      sleep 0.1
    done
    if pid_runs "${pid}"; then
      log "${name} registry (pid ${pid}) ignored TERM for 10 s; killing it"
      kill -KILL "${pid}" 2>/dev/null || true
    fi
  done
}

# HTTP status of an anonymous GET /v2/; 000 when nothing answers.
v2_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "${STATE_DIR}/pki/ca.crt" \
    "https://127.0.0.1:$1/v2/" 2>/dev/null || true
}

# A registry with auth answers an anonymous /v2/ with 401 and a challenge.
wait_ready() {
  local name="$1" port="$2"
  until [[ "$(v2_status "${port}")" == 401 ]]; do
    pid_of "${name}" >/dev/null || die "the ${name} registry exited while starting"
    (($(now_ms) < DEADLINE_MS)) || die "timed out after ${TIMEOUT} s waiting for the ${name} registry on 127.0.0.1:${port}"
    sleep 0.1
  done
}

running() {
  local name port
  [[ -f "${ENV_FILE}" ]] || return 1
  for name in "${INSTANCES[@]}"; do
    pid_of "${name}" >/dev/null || return 1
  done
  port="$(sed -n 's/^REGISTRY_BASIC_HOST=127\.0\.0\.1://p' "${ENV_FILE}")"
  [[ "$(v2_status "${port}")" == 401 ]]
}

# ---------------------------------------------------------------- state

port_in_use() {
  if command -v ss >/dev/null 2>&1; then
    [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
  else
    (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# First free port from $1 upwards that is not among the other arguments.
pick_port() {
  local port="$1"
  shift
  while port_in_use "${port}" || [[ " $* " == *" ${port} "* ]]; do
    port=$((port + 1))
    ((port < 32768)) || die "no free port found below 32768"
  done
  echo "${port}"
}

make_pki() {
  local pki="${STATE_DIR}/pki"
  mkdir -p "${pki}" "${STATE_DIR}/certs.d"
  cat >"${pki}/openssl.cnf" <<EOF
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
EOF
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
  level: info
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

make_state() {
  mkdir -p "${STATE_DIR}"
  touch "${MARKER}"
  mkdir -p "${STATE_DIR}/logs"
  make_pki
  PASSWORD="$(openssl rand -hex 16)"
  # Written before the registry starts: Distribution creates a missing htpasswd file with a
  # random user of its own.
  htpasswd -Bbn "${USERNAME}" "${PASSWORD}" | sed '/^$/d' >"${STATE_DIR}/htpasswd"
  write_config basic "${BASIC_PORT}" "auth:
  htpasswd:
    realm: registry-access-basic
    path: ${STATE_DIR}/htpasswd"
  write_config token "${TOKEN_PORT}" "auth:
  token:
    realm: https://127.0.0.1:${ISSUER_PORT}/token
    service: ${TOKEN_SERVICE}
    issuer: ${TOKEN_ISSUER_NAME}
    rootcertbundle: ${STATE_DIR}/pki/token-signing.crt"
}

# A one-file image built offline: an empty OCI image, unpacked, a file added, repacked.
build_image() {
  local layout="${STATE_DIR}/image/oci" bundle="${STATE_DIR}/image/bundle"
  mkdir -p "${STATE_DIR}/image"
  run_quiet umoci init --layout "${layout}"
  run_quiet umoci new --image "${layout}:${IMAGE_TAG}"
  run_quiet umoci unpack --rootless --image "${layout}:${IMAGE_TAG}" "${bundle}"
  echo "hello from registry-access" >"${bundle}/rootfs/hello.txt"
  run_quiet umoci repack --image "${layout}:${IMAGE_TAG}" "${bundle}"
  rm -rf "${bundle}"
}

push_image() {
  # --insecure-policy: no signature policy is needed for an image built here a moment ago.
  run_quiet skopeo copy --insecure-policy --dest-cert-dir "${STATE_DIR}/certs.d" \
    --dest-creds "${USERNAME}:${PASSWORD}" \
    "oci:${STATE_DIR}/image/oci:${IMAGE_TAG}" "docker://127.0.0.1:${BASIC_PORT}/${IMAGE_REPO}:${IMAGE_TAG}"
}

write_env() {
  local tmp="${ENV_FILE}.tmp"
  {
    echo "REGISTRY_DIR=${STATE_DIR}"
    echo "REGISTRY_BASIC_HOST=127.0.0.1:${BASIC_PORT}"
    echo "REGISTRY_TOKEN_HOST=127.0.0.1:${TOKEN_PORT}"
    echo "REGISTRY_CA=${STATE_DIR}/pki/ca.crt"
    echo "REGISTRY_CERT_DIR=${STATE_DIR}/certs.d"
    echo "REGISTRY_TLS_CERT=${STATE_DIR}/pki/server.crt"
    echo "REGISTRY_TLS_KEY=${STATE_DIR}/pki/server.key"
    echo "REGISTRY_HTPASSWD=${STATE_DIR}/htpasswd"
    echo "REGISTRY_USER=${USERNAME}"
    echo "REGISTRY_PASSWORD=${PASSWORD}"
    echo "REGISTRY_IMAGE=${IMAGE_REPO}:${IMAGE_TAG}"
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

remove_state() {
  [[ -e "${STATE_DIR}" ]] || return 0
  [[ -f "${MARKER}" ]] || die "${STATE_DIR} exists but was not made by this script; not touching it"
  stop_instances
  rm -rf -- "${STATE_DIR}"
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
  local rc=$? name
  if ((STARTING)); then
    for name in "${INSTANCES[@]}"; do
      [[ -f "${STATE_DIR}/logs/${name}.log" ]] || continue
      log "--- last lines of ${STATE_DIR}/logs/${name}.log"
      tail -n 25 "${STATE_DIR}/logs/${name}.log" >&2 || true
    done
    log "stopping what was started; logs stay in ${STATE_DIR}/logs"
    stop_instances
  fi
  exit "${rc}"
}

# One `up`/`down` at a time.
lock() {
  mkdir -p "${STATE_DIR%/*}"
  exec 9>"${STATE_DIR}.lock"
  if ! flock -n 9; then
    log "waiting for another local-registry.sh to finish"
    flock 9
  fi
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
  ensure_packages
  start_registries
  printf '%s\n' "${ENV_FILE}"
}

cmd_down() {
  lock
  if [[ ! -e "${STATE_DIR}" ]]; then
    log "not running (no ${STATE_DIR})"
    return 0
  fi
  remove_state
  log "stopped; removed ${STATE_DIR}"
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
