# shellcheck shell=bash
# What local-cluster.sh and local-registry.sh share: logging, packages, the lock, the state dir
# and the detached processes they start. Sourced, never run.
#
# The sourcing script sets LOG_NAME (the log prefix, also its own name without .sh) before
# sourcing, and before calling these functions:
#   STATE_DIR, MARKER   state dir and the file proving this script made it
#   LOCK_FILE           where `up` and `down` take their lock
#   TIMEOUT             seconds the start may take (for messages; DEADLINE_MS is the limit)
#   PROCESSES           names of the processes it starts, in stop order
# and defines:
#   binary_of NAME            the binary NAME runs (its argv[0] without directory)
#   label_of NAME             NAME as log lines call it
#   exited_message NAME WHAT  why to die when NAME exits while waiting for WHAT
# shellcheck disable=SC2154 # the variables above come from the sourcing script

: "${LOG_NAME:?set LOG_NAME before sourcing common.sh}"

STARTING=0 # 1 while `up` is starting processes: on failure they are stopped again
STARTED=() # names started by this run, in start order
DEADLINE_MS=0

log() { printf '%s: %s\n' "${LOG_NAME}" "$*" >&2; }
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
  # fd 9 (the lock) is closed so nothing started here, e.g. by a package's postinst, keeps it.
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

# ensure_packages [--timed] PACKAGE...: installs the missing ones; --timed logs how long it took.
ensure_packages() {
  local timed=0 missing=() pkg t0
  if [[ "${1:-}" == --timed ]]; then
    timed=1
    shift
  fi
  for pkg in "$@"; do
    package_installed "${pkg}" || missing+=("${pkg}")
  done
  ((${#missing[@]} == 0)) && return 0
  t0="$(now_ms)"
  log "installing ${missing[*]}"
  run_quiet as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  run_quiet as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  ((!timed)) || log "installed in $(fmt_s $(($(now_ms) - t0))) s"
}

# ---------------------------------------------------------------- go

# go1.26.8 -> 1026008, for comparing versions.
go_version_number() {
  local v major minor patch
  v="$("$1" env GOVERSION 2>/dev/null)" || return 1
  v="${v#go}"
  IFS=. read -r major minor patch <<<"${v}"
  echo $((major * 1000000 + minor * 1000 + ${patch:-0}))
}

# The newest go among the candidates; the wrappers need 1.26.6 (pkg/v3's go.mod).
find_go() {
  local best="" best_n=0 candidate n
  for candidate in ${GO:-} /usr/local/go/bin/go "$(command -v go || true)"; do
    [[ -n "${candidate}" && -x "${candidate}" ]] || continue
    n="$(go_version_number "${candidate}")" || continue
    if ((n > best_n)); then
      best="${candidate}" best_n="${n}"
    fi
  done
  ((best_n >= 1026006)) || die "needs Go 1.26.6 or newer (found: ${best:-none}); install it from https://go.dev/dl or set GO=/path/to/go"
  echo "${best}"
}

# Version of MODULE required by the wrapper module in DIR.
required_version() {
  awk -v m="$2" '$1 == m { print $2 } $1 == "require" && $2 == m { print $3 }' "$1/go.mod" | head -1
}

# Short hash of the wrapper's files: a changed wrapper rebuilds even at the same release. Files
# in subdirectories (toolchain/pulumi-random has them) count with their names; a flat wrapper's
# hash is what it always was, so its cached binary stays valid.
wrapper_hash() {
  (
    cd "$1" && cat go.mod go.sum ./*.go 2>/dev/null
    find . -mindepth 2 -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
      LC_ALL=C sort -z | xargs -0 -r sha256sum
  ) | sha256sum | cut -c1-12
}

# go_build NAME VERSION WRAPPER_DIR PACKAGE LDFLAGS [PREPARE]: builds NAME into $GO_BUILD_CACHE
# (set by the caller) unless there already; PREPARE, a function, runs in the writable build dir
# first. Prints the binary.
go_build() {
  local name="$1" version="$2" wrapper="$3" package="$4" ldflags="$5" prepare="${6:-}"
  local dir="${GO_BUILD_CACHE}/${name}-${version}-$(wrapper_hash "${wrapper}")" t0
  if [[ -x "${dir}/${name}" ]]; then
    echo "${dir}/${name}"
    return 0
  fi
  log "building ${name} ${version} from Go modules with $("${GO_CMD}" env GOVERSION) (first time on this machine: many minutes)"
  t0="$(now_ms)"
  rm -rf "${dir}.tmp"
  mkdir -p "${dir}.tmp/src"
  cp "${wrapper}"/go.mod "${wrapper}"/go.sum "${dir}.tmp/src/"
  cp "${wrapper}"/*.go "${dir}.tmp/src/" 2>/dev/null || true
  find "${wrapper}" -mindepth 1 -maxdepth 1 -type d -exec cp -r {} "${dir}.tmp/src/" \;
  [[ -z "${prepare}" ]] || (cd "${dir}.tmp/src" && "${prepare}" "${version}")
  (cd "${dir}.tmp/src" && CGO_ENABLED=0 "${GO_CMD}" build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w ${ldflags}" -o "${dir}.tmp/${name}" "${package}") >&2 ||
    die "building ${name} ${version} failed (the go command's error is above)"
  rm -rf "${dir}.tmp/src"
  mv "${dir}.tmp" "${dir}"
  log "built ${name} ${version} in $(fmt_s $(($(now_ms) - t0))) s"
  echo "${dir}/${name}"
}

# ---------------------------------------------------------------- lock and state

# One `up`/`down` at a time, on fd 9 (parallel test workers may all call `up`).
lock() {
  mkdir -p "${LOCK_FILE%/*}"
  exec 9>"${LOCK_FILE}"
  if ! flock -n 9; then
    log "waiting for another ${LOG_NAME}.sh to finish"
    flock 9
  fi
}

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

make_state_dir() {
  mkdir -p "${STATE_DIR}"
  touch "${MARKER}"
  mkdir -p "${STATE_DIR}/logs"
}

# Removes the state dir after stopping what its pid files name.
remove_state() {
  [[ -e "${STATE_DIR}" ]] || return 0
  [[ -f "${MARKER}" ]] || die "${STATE_DIR} exists but was not made by this script; not touching it"
  # Hooks a script may define, for what its processes leave behind (containers, mounts).
  if declare -F before_stop_all >/dev/null; then before_stop_all; fi
  stop_all
  if declare -F after_stop_all >/dev/null; then after_stop_all; fi
  rm -rf -- "${STATE_DIR}"
}

# openssl config for a throwaway CA (extensions `ca`), a server cert (`server`) and a client
# cert (`client`).
write_openssl_cnf() {
  local file="$1" key_usage="$2" san="$3"
  cat >"${file}" <<EOF
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, ${key_usage}
extendedKeyUsage = serverAuth
subjectAltName = ${san}
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
EOF
}

# busybox_image LAYOUT TAG ROOTFS_HOOK CMD...: a runnable image built offline in the OCI layout
# LAYOUT: an empty image, unpacked, busybox (static) added, repacked, with /bin/busybox as its
# entrypoint and CMD as its arguments. ROOTFS_HOOK, a function or "", may add files to the rootfs.
busybox_image() {
  local layout="$1" tag="$2" hook="$3" bundle arg config=()
  shift 3
  bundle="$(mktemp -d "${TMPDIR:-/tmp}/registry-access-image.XXXXXX")/bundle"
  run_quiet umoci init --layout "${layout}"
  run_quiet umoci new --image "${layout}:${tag}"
  run_quiet umoci unpack --rootless --image "${layout}:${tag}" "${bundle}"
  mkdir -p "${bundle}/rootfs/bin"
  cp /bin/busybox "${bundle}/rootfs/bin/busybox"
  [[ -z "${hook}" ]] || "${hook}" "${bundle}/rootfs"
  run_quiet umoci repack --image "${layout}:${tag}" "${bundle}"
  for arg in "$@"; do
    config+=(--config.cmd "${arg}")
  done
  run_quiet umoci config --image "${layout}:${tag}" --config.entrypoint /bin/busybox "${config[@]}"
  rm -rf "${bundle%/bundle}"
}

# ---------------------------------------------------------------- processes

# True when PID is alive and still runs BINARY: a pid file can outlive its process and
# the number be reused, so the command line is checked before anything is signalled.
# A zombie has an empty cmdline and counts as gone.
pid_runs() {
  local pid="$1" binary="$2" argv0
  kill -0 "${pid}" 2>/dev/null || return 1
  IFS= read -r -d '' argv0 <"/proc/${pid}/cmdline" 2>/dev/null || return 1
  [[ "${argv0##*/}" == "${binary}" ]]
}

# Prints the pid of a process started by this script, if it is still running.
pid_of() {
  local file="${STATE_DIR}/$1.pid" pid
  [[ -r "${file}" ]] || return 1
  pid="$(<"${file}")"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  pid_runs "${pid}" "$(binary_of "$1")" || return 1
  echo "${pid}"
}

# True when every one of PROCESSES is running.
all_running() {
  local name
  for name in "${PROCESSES[@]}"; do
    pid_of "${name}" >/dev/null || return 1
  done
}

# Starts CMD... as NAME; its pid goes to STATE_DIR/NAME.pid, its output to logs/NAME.log.
spawn() {
  local name="$1"
  shift
  # Own session, stdin/stdout detached: the process outlives `up` and does not hold the
  # caller's pipe open (`$(... up | tail -1)` would never return) nor the lock (fd 9).
  setsid "$@" </dev/null >"${STATE_DIR}/logs/${name}.log" 2>&1 9>&- &
  echo "$!" >"${STATE_DIR}/${name}.pid"
  STARTED+=("${name}")
}

# True once NAME runs its binary: until then the pid shows this script's or setsid's
# command line. Checks TRIES times, INTERVAL s apart; with GIVE_UP_IF_GONE=1 it stops
# early when the process has already exited.
await_exec() {
  local name="$1" tries="$2" interval="$3" give_up_if_gone="$4" pid binary i
  pid="$(<"${STATE_DIR}/${name}.pid")"
  binary="$(binary_of "${name}")"
  for ((i = 0; i < tries; i++)); do
    pid_runs "${pid}" "${binary}" && return 0
    ((give_up_if_gone)) && ! kill -0 "${pid}" 2>/dev/null && break
    sleep "${interval}"
  done
  return 1
}

# Runs CMD... every INTERVAL s until it succeeds. Between tries it dies when one of WATCHED
# (names separated by spaces) has exited, or once DEADLINE_MS has passed.
wait_until() {
  local interval="$1" what="$2" watched="$3" name
  shift 3
  until "$@"; do
    for name in ${watched}; do
      pid_of "${name}" >/dev/null || die "$(exited_message "${name}" "${what}")"
    done
    (($(now_ms) < DEADLINE_MS)) || die "timed out after ${TIMEOUT} s waiting for ${what}"
    sleep "${interval}"
  done
}

# Stops what this script started, in PROCESSES order: TERM, up to 10 s to exit, then KILL.
stop_all() {
  local name pid binary i
  for name in "${PROCESSES[@]}"; do
    pid="$(pid_of "${name}")" || continue
    binary="$(binary_of "${name}")"
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      pid_runs "${pid}" "${binary}" || break
      sleep 0.1
    done
    if pid_runs "${pid}" "${binary}"; then
      log "$(label_of "${name}") (pid ${pid}) ignored TERM for 10 s; killing it"
      kill -KILL "${pid}" 2>/dev/null || true
    fi
  done
}

# On exit during `up`'s start: the end of each started process's log, then everything stopped.
stop_failed_start() {
  local name
  ((STARTING)) || return 0
  for name in "${STARTED[@]}"; do
    log "--- last lines of ${STATE_DIR}/logs/${name}.log"
    tail -n 25 "${STATE_DIR}/logs/${name}.log" >&2 2>/dev/null || true
  done
  log "stopping what was started; logs stay in ${STATE_DIR}/logs"
  stop_all
}

# ---------------------------------------------------------------- commands

cmd_down() {
  lock
  if [[ ! -e "${STATE_DIR}" ]]; then
    log "not running (no ${STATE_DIR})"
    return 0
  fi
  remove_state
  log "stopped; removed ${STATE_DIR}"
}
