#!/usr/bin/env bash
# The two shared state backends a team uses, on 127.0.0.1, for the team tests and pipelines:
#   s3        versitygw (an S3 server, built from Go modules once and cached) over a posix dir,
#             TLS from a throwaway CA, one bucket for Pulumi state
#   postgres  Debian's PostgreSQL 15, run as `nobody` in the state dir, TLS from the same CA,
#             one database and a password user for Pulumi state
#
#   scripts/local-backends.sh up    start both; the last line of stdout is the env file path:
#                                     export LOCAL_BACKENDS_ENV=$(scripts/local-backends.sh up | tail -1)
#   scripts/local-backends.sh down  stop both and remove their state (idempotent)
#   scripts/local-backends.sh env   print the env file path of the running backends
#   scripts/local-backends.sh stop NAME | start NAME
#                                   stop or start one server (s3, postgres) keeping its data:
#                                   the tests' "backend gone mid-up"
#
# The env file holds KEY='value' lines (the URLs carry & and ?), readable by `source` and by
# Node's util.parseEnv: S3_BACKEND_URL with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
# AWS_CA_BUNDLE; POSTGRES_BACKEND_URL (credentials and CA in the URL); S3_BUCKET_DIR, where the
# bucket's objects are files. psql takes POSTGRES_BACKEND_URL as it is.
#
# Environment:
#   LOCAL_BACKENDS_DIR      state dir (default /tmp/registry-access-backends)
#   LOCAL_BACKENDS_TIMEOUT  seconds to wait for readiness (default 60)
#   REGISTRY_ACCESS_CACHE   where versitygw is kept (default ~/.cache/registry-access)
set -euo pipefail

readonly LOG_NAME=local-backends
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
STATE_DIR="$(realpath -m -- "${LOCAL_BACKENDS_DIR:-/tmp/registry-access-backends}")"
readonly STATE_DIR
readonly ENV_FILE="${STATE_DIR}/env"
readonly MARKER="${STATE_DIR}/.registry-access-local-backends"
readonly LOCK_FILE="${STATE_DIR}.lock"
readonly TIMEOUT="${LOCAL_BACKENDS_TIMEOUT:-60}"
readonly GO_BUILD_CACHE="${REGISTRY_ACCESS_CACHE:-${HOME}/.cache/registry-access}/tools"
readonly DEFAULT_S3_PORT=15100 DEFAULT_PG_PORT=15101
readonly BUCKET=pulumi-state DATABASE=pulumi PG_USER=pulumi
readonly PG_BIN=/usr/lib/postgresql/15/bin
# PostgreSQL refuses to run as root.
readonly PG_OS_USER=nobody
readonly PACKAGES=(openssl curl postgresql-15 postgresql-client-15)
readonly PROCESSES=(s3 postgres)
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly

# ---------------------------------------------------------------- processes

binary_of() {
  case "$1" in
    s3) echo versitygw ;;
    postgres) echo postgres ;;
  esac
}

label_of() { echo "the $1 server"; }

exited_message() { echo "the $1 server exited while starting; see ${STATE_DIR}/logs/$1.log"; }

versitygw_binary() {
  GO_CMD="$(find_go)"
  go_build versitygw "$(required_version "${ROOT}/toolchain/versitygw" github.com/versity/versitygw)" \
    "${ROOT}/toolchain/versitygw" github.com/versity/versitygw/cmd/versitygw ""
}

start_instance() {
  local name="$1"
  case "${name}" in
    s3)
      # Root credentials through the environment, not argv (a process listing shows argv).
      ROOT_ACCESS_KEY="${S3_ACCESS_KEY}" ROOT_SECRET_KEY="${S3_SECRET_KEY}" \
        spawn s3 "${VERSITYGW}" --quiet --port "127.0.0.1:${S3_PORT}" \
        --cert "${STATE_DIR}/pki/server.crt" --key "${STATE_DIR}/pki/server.key" \
        posix "${STATE_DIR}/s3"
      ;;
    postgres)
      spawn postgres setpriv --reuid="${PG_OS_USER}" --regid=nogroup --clear-groups \
        "${PG_BIN}/postgres" -D "${STATE_DIR}/pg/data"
      ;;
  esac
  await_exec "${name}" 50 0.02 1 || die "$(exited_message "${name}")"
}

s3_answers() {
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "${STATE_DIR}/pki/ca.crt" \
    "https://127.0.0.1:$1/" 2>/dev/null || true)" =~ ^[1-5][0-9][0-9]$ ]]
}

pg_answers() { "${PG_BIN}/pg_isready" -q -h 127.0.0.1 -p "$1"; }

port_of() { sed -n "s/^$1=//p" "${STATE_DIR}/ports"; }

wait_ready() {
  case "$1" in
    s3) wait_until 0.1 "S3 on 127.0.0.1:$(port_of S3_PORT)" s3 s3_answers "$(port_of S3_PORT)" ;;
    postgres) wait_until 0.1 "PostgreSQL on 127.0.0.1:$(port_of PG_PORT)" postgres pg_answers "$(port_of PG_PORT)" ;;
  esac
}

running() {
  [[ -f "${ENV_FILE}" ]] && all_running && s3_answers "$(port_of S3_PORT)" && pg_answers "$(port_of PG_PORT)"
}

# ---------------------------------------------------------------- state

make_pki() {
  local pki="${STATE_DIR}/pki"
  mkdir -p "${pki}"
  write_openssl_cnf "${pki}/openssl.cnf" digitalSignature "IP:127.0.0.1, DNS:localhost"
  run_quiet openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 2 \
    -config "${pki}/openssl.cnf" -extensions ca -subj /CN=registry-access-backends-ca \
    -keyout "${pki}/ca.key" -out "${pki}/ca.crt"
  run_quiet openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -config "${pki}/openssl.cnf" \
    -subj /CN=127.0.0.1 -keyout "${pki}/server.key" -out "${pki}/server.csr"
  run_quiet openssl x509 -req -days 2 -in "${pki}/server.csr" -CA "${pki}/ca.crt" -CAkey "${pki}/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -extfile "${pki}/openssl.cnf" -extensions server \
    -out "${pki}/server.crt"
  chmod 0644 "${pki}/ca.crt" "${pki}/server.crt"
}

make_postgres() {
  local pg="${STATE_DIR}/pg"
  mkdir -p "${pg}/data" "${pg}/socket"
  printf '%s\n' "${PG_PASSWORD}" >"${pg}/pwfile"
  # The server's own copy of the key: PostgreSQL wants it owned by its user, mode 0600.
  cp "${STATE_DIR}/pki/server.crt" "${STATE_DIR}/pki/server.key" "${pg}/"
  chown -R "${PG_OS_USER}:nogroup" "${pg}"
  chmod 0700 "${pg}/data"
  chmod 0600 "${pg}/server.key" "${pg}/pwfile"
  run_quiet setpriv --reuid="${PG_OS_USER}" --regid=nogroup --clear-groups \
    "${PG_BIN}/initdb" -D "${pg}/data" -U "${PG_USER}" --pwfile="${pg}/pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8
  rm -f "${pg}/pwfile"
  cat >>"${pg}/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = ${PG_PORT}
unix_socket_directories = '${pg}/socket'
ssl = on
ssl_cert_file = '${pg}/server.crt'
ssl_key_file = '${pg}/server.key'
CONF
  # TLS and a password on TCP; nothing else is accepted.
  printf 'hostssl all %s 127.0.0.1/32 scram-sha-256\n' "${PG_USER}" >"${pg}/data/pg_hba.conf"
}

write_env() {
  local tmp="${ENV_FILE}.tmp" ca="${STATE_DIR}/pki/ca.crt"
  local pg_url="postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/${DATABASE}"
  {
    echo "BACKENDS_DIR='${STATE_DIR}'"
    echo "S3_BACKEND_URL='s3://${BUCKET}?endpoint=https://127.0.0.1:${S3_PORT}&s3ForcePathStyle=true&region=us-east-1'"
    echo "AWS_ACCESS_KEY_ID='${S3_ACCESS_KEY}'"
    echo "AWS_SECRET_ACCESS_KEY='${S3_SECRET_KEY}'"
    echo "AWS_CA_BUNDLE='${ca}'"
    echo "S3_BUCKET_DIR='${STATE_DIR}/s3/${BUCKET}'"
    echo "POSTGRES_BACKEND_URL='${pg_url}?sslmode=verify-full&sslrootcert=${ca}'"
  } >"${tmp}"
  chmod 0600 "${tmp}"
  mv "${tmp}" "${ENV_FILE}"
}

start_backends() {
  local t0
  t0="$(now_ms)"
  VERSITYGW="$(versitygw_binary)"
  DEADLINE_MS=$((t0 + TIMEOUT * 1000))
  S3_PORT="$(pick_port "${DEFAULT_S3_PORT}")"
  PG_PORT="$(pick_port "${DEFAULT_PG_PORT}" "${S3_PORT}")"
  S3_ACCESS_KEY="registry-access-$(openssl rand -hex 4)"
  S3_SECRET_KEY="$(openssl rand -hex 20)"
  PG_PASSWORD="$(openssl rand -hex 16)"
  make_state_dir
  make_pki
  # The bucket is a directory of the posix root.
  mkdir -p "${STATE_DIR}/s3/${BUCKET}"
  make_postgres
  printf 'S3_PORT=%s\nPG_PORT=%s\n' "${S3_PORT}" "${PG_PORT}" >"${STATE_DIR}/ports"
  # What `start NAME` needs again, readable by root only.
  (umask 077 && printf "VERSITYGW='%s'\nS3_ACCESS_KEY='%s'\nS3_SECRET_KEY='%s'\n" "${VERSITYGW}" "${S3_ACCESS_KEY}" "${S3_SECRET_KEY}" >"${STATE_DIR}/s3.env")
  STARTING=1
  start_instance s3
  start_instance postgres
  wait_ready s3
  wait_ready postgres
  PGPASSWORD="${PG_PASSWORD}" PGSSLMODE=verify-full PGSSLROOTCERT="${STATE_DIR}/pki/ca.crt" \
    run_quiet "${PG_BIN}/createdb" -h 127.0.0.1 -p "${PG_PORT}" -U "${PG_USER}" "${DATABASE}"
  write_env
  STARTING=0
  log "ready in $(fmt_s $(($(now_ms) - t0))) s: S3 https://127.0.0.1:${S3_PORT} (bucket ${BUCKET}), PostgreSQL 127.0.0.1:${PG_PORT} (database ${DATABASE}), state in ${STATE_DIR}"
}

on_exit() {
  local rc=$?
  stop_failed_start
  exit "${rc}"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  [[ "${STATE_DIR}" =~ ^[A-Za-z0-9._/-]+$ ]] || die "LOCAL_BACKENDS_DIR must use only letters, digits and . _ / -"
  lock
  if running; then
    log "already running"
    printf '%s\n' "${ENV_FILE}"
    return 0
  fi
  remove_state
  ensure_packages --timed "${PACKAGES[@]}"
  start_backends
  printf '%s\n' "${ENV_FILE}"
}

cmd_env() {
  running || die "not running; start it with: $0 up"
  printf '%s\n' "${ENV_FILE}"
}

# One server stopped (as a restart of its host would) or started again, its data kept.
cmd_one() {
  local what="$1" name="$2" pid
  [[ " ${PROCESSES[*]} " == *" ${name} "* ]] || die "no server named '${name}' (s3, postgres)"
  [[ -f "${ENV_FILE}" ]] || die "not running; start it with: $0 up"
  lock
  if [[ "${what}" == stop ]]; then
    pid="$(pid_of "${name}")" || return 0
    # PostgreSQL's fast shutdown (INT) drops its clients; TERM would wait for them to leave.
    kill "-$([[ "${name}" == postgres ]] && echo INT || echo TERM)" "${pid}"
    while pid_runs "${pid}" "$(binary_of "${name}")"; do sleep 0.1; done
    log "stopped ${name}"
  else
    pid_of "${name}" >/dev/null && return 0
    # shellcheck source=/dev/null
    source "${STATE_DIR}/s3.env"
    S3_PORT="$(port_of S3_PORT)" PG_PORT="$(port_of PG_PORT)"
    DEADLINE_MS=$(($(now_ms) + TIMEOUT * 1000))
    start_instance "${name}"
    wait_ready "${name}"
    log "started ${name}"
  fi
}

usage() {
  echo "usage: $0 up|down|env|stop NAME|start NAME" >&2
  exit 2
}

trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  stop | start) cmd_one "$1" "${2:-}" ;;
  *) usage ;;
esac
