#!/usr/bin/env bash
# npm run pipelines: .gitlab-ci.yml run for real, by gitlab-ci-local's shell executor (no container
# engine here), against the project's local cluster standing in for three clusters and the local
# S3 server holding the shared state (scripts/local-backends.sh). The pipelines, each checked:
#   push to main   test, up:dev, up:staging; up:prod waits (manual) until its job is started;
#                  then every stack's pull Secret is kubectl's, and a pod with no pull secret of
#                  its own pulls the private image in each namespace
#   merge request  the previews of the three stacks on a branch that changes dev's labels (its
#                  `test` job, the push pipeline's, is not run twice): dev's preview shows the
#                  change; the cluster and the bucket are untouched
#   schedules      prod gets a third tenant (merged, then up:prod), the namespaces labelled
#                  example.org/project=pipelines, with serviceAccounts "*" (none yet). Two are
#                  labelled, one with a new ServiceAccount: the drift schedule's drift and doctor
#                  jobs pass (labelled since is not drift), no Secret there; the reconcile schedule
#                  (REGISTRY_ACCESS_SCHEDULE=reconcile) gives both the Secret and every account the
#                  patch, a pod there pulls, and prod's drift job passes again. One then deleted
#                  and the other unlabelled: prod's reconcile (only adding) fails naming the
#                  deletes and leaves the Secret, having dropped the deleted namespace's objects
#                  from the state; labelled again, it passes and drops its component's record too.
#                  Then drift: after `kubectl patch serviceaccount` (staging) and an edited Secret
#                  (prod) it fails naming each; after the documented repair (`pulumi up
#                  --refresh`, patchForce for the taken list) its command passes
# After the first pipeline of each kind, a run is cut to the jobs its checks read (--job), since
# every job of a pipeline starts with npm ci and the build on these 2 cores.
# The repository is cloned to a temp dir whose stacks dev, staging and prod are the shipped ones
# made deployable here, as a team makes them its own: the same namespaces, tenants and accounts, the
# team registry replaced by the local one (a user and password generated per run), every other
# password generated, credential checks off; created on the S3 backend with a random passphrase; variables (three kubeconfig File variables, the
# backend, its keys and CA, the passphrase) go in the clone's .gitlab-ci-local-variables.yml, as a
# team would set them in Settings > CI/CD > Variables. Starts the cluster, registry and backends
# unless running; stops what it started, destroys the stacks and removes the clone.
# The jobs get only what their image has (scripts/image-path.sh: no Go, shellcheck or kubectl; this
# machine's Pulumi CLI as the image's) and what they install: kubectl, which curl there gets from
# this machine's copy for dl.k8s.io's. No job may then say "cannot tell" of image isolation.
#
# Environment: REGISTRY_ACCESS_CACHE (gitlab-ci-local is kept there, by version).
set -euo pipefail

readonly LOG_NAME=pipelines
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly GCL_VERSION=4.75.1
readonly GCL_DIR="${REGISTRY_ACCESS_CACHE:-${HOME}/.cache/registry-access}/tools/gitlab-ci-local-${GCL_VERSION}"
readonly GCL="${GCL_DIR}/node_modules/gitlab-ci-local/dist/index.js"
readonly ENVS=(dev staging prod)
# Each stack's namespaces, and the config path of its team registry (the local one here).
declare -Ar NAMESPACES=([dev]="xnat-jobs-dev" [staging]="xnat-jobs-staging" [prod]="xnat-jobs xnat-jobs-gpu")
declare -Ar TEAM_REGISTRY=([dev]="registries[0]" [staging]="registries[0]" [prod]="sharedRegistries[0]")
# The stacks' other passwords (Docker Hub, ghcr.io): set to generated values, never used to pull.
# The team registry entry's email, where the stack gives one (kubectl's --docker-email).
declare -Ar TEAM_EMAIL=([dev]="" [staging]="" [prod]="xnat-ops@example.org")
declare -Ar OTHER_PASSWORDS=([dev]="" [staging]="registries[1].password" [prod]="tenants[1].registries[0].password")
# Prod's selector tenant: the namespaces with this label (adopted, so deleted here, not by destroy).
readonly PROJECT_LABEL=example.org/project=pipelines
readonly PROJECT_NAMESPACES=(pipelines-a pipelines-b)
# The remote a GitLab project would have; gitlab-ci-local derives CI_PROJECT_* from it.
readonly ORIGIN=https://gitlab.example.org/platform/registry-access.git

WORK="$(mktemp -d /tmp/registry-access-pipelines-XXXXXX)"
readonly WORK REPO="${WORK}/repo"
STARTED=()
FAILURES=()
# gitlab-ci-local writes every job's file variables (the clusters' kubeconfigs, with their keys) to
# /tmp/gitlab-ci-local-file-variables-<project>-<job id> and removes only those of the jobs it ran:
# the others' are removed here, and none may be left when the run ends.
file_variable_dirs() { find /tmp -maxdepth 1 -name 'gitlab-ci-local-file-variables-*' | sort; }
FILE_VARIABLES_BEFORE="$(file_variable_dirs)"
readonly FILE_VARIABLES_BEFORE
remove_file_variables() { comm -13 <(printf '%s\n' "${FILE_VARIABLES_BEFORE}") <(file_variable_dirs) | xargs -r rm -rf; }
no_file_variables_left() { [[ -z "$(comm -13 <(printf '%s\n' "${FILE_VARIABLES_BEFORE}") <(file_variable_dirs))" ]]; }
SUMMARY=()
PIPELINE_LOGS=()

# ---------------------------------------------------------------- servers

cleanup() {
  local rc=$? env
  set +e
  if [[ -d "${REPO}/.git" && -n "${PULUMI_CONFIG_PASSPHRASE:-}" ]]; then
    for env in "${ENVS[@]}"; do
      operator state unprotect --all --yes --stack "${env}" >/dev/null 2>&1
      operator destroy --yes --skip-preview --stack "${env}" --non-interactive >"${WORK}/destroy-${env}.log" 2>&1 ||
        log "destroy of ${env} failed; see ${WORK}/destroy-${env}.log"
      operator stack rm --yes --stack "${env}" >/dev/null 2>&1
    done
  fi
  remove_file_variables
  kubectl delete namespace "${PROJECT_NAMESPACES[@]}" --ignore-not-found --wait=false >/dev/null 2>&1
  [[ -n "${REGISTRY_HTPASSWD:-}" && -f "${REGISTRY_HTPASSWD}" ]] && sed -i '/^pipeline-/d' "${REGISTRY_HTPASSWD}"
  local i
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
    (unset KUBECONFIG && "scripts/local-${STARTED[i]}.sh" down >&2)
  done
  # A failed run's logs are kept for a look, never the variables file: the clusters' keys, the
  # backend's and the passphrase.
  if ((rc == 0)); then
    rm -rf "${WORK}"
  else
    rm -f "${REPO}/.gitlab-ci-local-variables.yml"
    log "kept ${WORK} for a look (the variables file removed)"
  fi
  exit "${rc}"
}
trap cleanup EXIT

# Runs the CLI in the clone on the shared backend, as an operator would.
operator() {
  (cd "${REPO}" && PULUMI_BACKEND_URL="${S3_BACKEND_URL}" AWS_ACCESS_KEY_ID="${S3_KEY}" \
    AWS_SECRET_ACCESS_KEY="${S3_SECRET}" AWS_CA_BUNDLE="${S3_CA}" pulumi "$@")
}

# start NAME: scripts/local-NAME.sh up unless it runs already; sets SERVER_PATH to its env file (or
# kubeconfig). Not in a $(...) subshell, so that STARTED keeps what this run must stop.
start() {
  local probe=env path
  [[ "$1" == cluster ]] && probe=kubeconfig
  if path="$(scripts/"local-$1.sh" "${probe}" 2>/dev/null)" && [[ -s "${path}" ]] &&
    { [[ "$1" != cluster ]] || KUBECONFIG="${path}" kubectl get --raw /readyz >/dev/null 2>&1; }; then
    SERVER_PATH="${path}"
    return
  fi
  STARTED+=("$1")
  SERVER_PATH="$(unset KUBECONFIG && scripts/"local-$1.sh" up | tail -1)"
}

# ---------------------------------------------------------------- pipelines

# --shell-isolation: each job in its own copy of the repository, as on a runner; without it, jobs
# running at once share one folder, and each one's npm ci deletes the others' node_modules.
# PATH: the jobs' (the image's); gitlab-ci-local itself keeps this machine's (rsync, git).
gcl() {
  (cd "${REPO}" && env -u PULUMI_CONFIG_PASSPHRASE node "${GCL}" --force-shell-executor --shell-isolation --color=false --timestamps --ignore-predefined-vars CI_PIPELINE_SOURCE --variable "PATH=${IMAGE_PATH}" "$@")
}

# run_pipeline NAME EXPECT ARGS...: runs gitlab-ci-local; EXPECT is pass or fail; records each
# job's result line (PASS/FAIL/WARN) for the summary.
run_pipeline() {
  local name="$1" expect="$2" rc=0 t0
  shift 2
  t0="$(now_ms)"
  log "pipeline ${name}: gitlab-ci-local $*"
  PIPELINE_LOGS+=("${WORK}/${name}.log")
  gcl "$@" >"${WORK}/${name}.log" 2>&1 || rc=$?
  remove_file_variables
  local jobs
  jobs="$(grep -E '^ (PASS|FAIL|WARN) ' "${WORK}/${name}.log" | sed 's/^ */    /' || true)"
  SUMMARY+=("${name} (exit ${rc}, $(fmt_s $(($(now_ms) - t0))) s):" "${jobs:-    (no job ran)}")
  if [[ "${expect}" == pass && ${rc} -ne 0 ]] || [[ "${expect}" == fail && ${rc} -eq 0 ]]; then
    FAILURES+=("pipeline ${name} exited ${rc}, expected to ${expect}")
    tail -40 "${WORK}/${name}.log" >&2
  fi
}

# check WHAT COMMAND...: records a failed check instead of stopping, so every problem is listed.
check() {
  local what="$1"
  shift
  if "$@"; then
    SUMMARY+=("    ok: ${what}")
  else
    FAILURES+=("${what}")
    SUMMARY+=("    FAILED: ${what}")
  fi
}

# The state in the bucket and the namespaces' objects, for "nothing changed".
fingerprint() {
  (cd "${S3_BUCKET_DIR}" && find . -type f -not -path './.pulumi/locks/*' -print0 | sort -z | xargs -0 sha256sum)
  local ns
  # shellcheck disable=SC2048 # each value is a space-separated list of namespaces
  for ns in ${NAMESPACES[*]}; do
    kubectl get namespace "${ns}" -o jsonpath='{.metadata.resourceVersion}{"\n"}'
    kubectl get secrets,serviceaccounts -n "${ns}" \
      -o jsonpath='{range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}'
  done
}

# The private image pulled by a pod that names no pull secret: the default ServiceAccount's do.
pod_pulls() {
  local ns="$1" pod
  pod="pull-$(openssl rand -hex 3)"
  kubectl run "${pod}" -n "${ns}" --image "${REGISTRY_BASIC_HOST}/${REGISTRY_IMAGE}" --image-pull-policy Always \
    --restart Never --overrides '{"spec":{"dnsPolicy":"Default"}}' >/dev/null &&
    kubectl wait -n "${ns}" "pod/${pod}" --for=jsonpath='{.status.phase}'=Succeeded --timeout=120s >/dev/null
}

# The default ServiceAccount of NS lists a Secret holding byte for byte what kubectl writes for the
# local registry's credentials of ENV.
secret_is_kubectls() {
  local ns="$1" env="$2" name theirs
  theirs="$(kubectl create secret docker-registry x --docker-server "${REGISTRY_BASIC_HOST}" \
    --docker-username "pipeline-${env}" --docker-password "${PASSWORDS[${env}]}" \
    ${TEAM_EMAIL[${env}]:+--docker-email "${TEAM_EMAIL[${env}]}"} --dry-run=client -o jsonpath='{.data.\.dockerconfigjson}')"
  for name in $(kubectl get serviceaccount default -n "${ns}" -o jsonpath='{.imagePullSecrets[*].name}'); do
    [[ "$(kubectl get secret "${name}" -n "${ns}" -o jsonpath='{.data.\.dockerconfigjson}')" == "${theirs}" ]] && return 0
  done
  return 1
}

# One pass over every log for all the secrets: the generated passwords and the passphrase.
no_plaintext_in_logs() {
  local patterns=() env
  for env in "${ENVS[@]}"; do patterns+=(-e "${PASSWORDS[${env}]}"); done
  ! grep -rqF "${patterns[@]}" -e "${PULUMI_CONFIG_PASSPHRASE}" "${WORK}"/*.log "${REPO}/.gitlab-ci-local/output"
}

# ---------------------------------------------------------------- setup

cd "${ROOT}"
ensure_packages rsync git apache2-utils openssl
command -v pulumi >/dev/null || die "no pulumi on PATH; run: source scripts/setup.sh"
IMAGE_PATH="$(bash scripts/image-path.sh "${WORK}/image" --with-pulumi)"
if [[ ! -f "${GCL}" ]]; then
  log "installing gitlab-ci-local ${GCL_VERSION} in ${GCL_DIR}"
  run_quiet npm install --prefix "${GCL_DIR}" --no-audit --no-fund --no-save "gitlab-ci-local@${GCL_VERSION}"
fi

start cluster
export KUBECONFIG="${SERVER_PATH}"
start registry
# shellcheck disable=SC1090 # written by the scripts
source "${SERVER_PATH}"
start backends
# shellcheck disable=SC1090
source "${SERVER_PATH}"
S3_KEY="${AWS_ACCESS_KEY_ID}" S3_SECRET="${AWS_SECRET_ACCESS_KEY}" S3_CA="${AWS_CA_BUNDLE}"
PULUMI_CONFIG_PASSPHRASE="$(openssl rand -hex 16)"
export PULUMI_CONFIG_PASSPHRASE

[[ -d "${ROOT}/node_modules" ]] || die "no node_modules in ${ROOT}; run: source scripts/setup.sh"
git clone -q "${ROOT}" "${REPO}"
# For the operator's own CLI runs in the clone (untracked, so the jobs' copies do not get it).
ln -s "${ROOT}/node_modules" "${REPO}/node_modules"
git -C "${REPO}" remote set-url origin "${ORIGIN}"
git -C "${REPO}" checkout -q -B main
declare -A PASSWORDS
for env in "${ENVS[@]}"; do
  PASSWORDS[${env}]="$(openssl rand -hex 12)"
  operator stack rm --yes --force --preserve-config --stack "${env}" >/dev/null 2>&1 || true
  for ns in ${NAMESPACES[${env}]}; do kubectl delete namespace "${ns}" --ignore-not-found --wait=true >/dev/null; done
  # Under a new passphrase: the shipped ciphertexts are all replaced below.
  sed -i '/^encryptionsalt:/d' "${REPO}/stacks/Pulumi.${env}.yaml"
  operator stack init "${env}" --secrets-provider passphrase >/dev/null 2>&1
  operator config set --stack "${env}" verifyCredentials false
  team="${TEAM_REGISTRY[${env}]}"
  operator config set --stack "${env}" --path "${team}.server" "${REGISTRY_BASIC_HOST}"
  operator config set --stack "${env}" --path "${team}.username" "pipeline-${env}"
  printf '%s' "${PASSWORDS[${env}]}" | operator config set --stack "${env}" --secret --path "${team}.password"
  for path in ${OTHER_PASSWORDS[${env}]}; do
    openssl rand -hex 12 | tr -d '\n' | operator config set --stack "${env}" --secret --path "${path}"
  done
  printf '%s\n' "${PASSWORDS[${env}]}" | htpasswd -niB "pipeline-${env}" | sed '/^$/d' >>"${REGISTRY_HTPASSWD}"
done
kubectl delete namespace "${PROJECT_NAMESPACES[@]}" --ignore-not-found --wait=true >/dev/null
git -C "${REPO}" -c user.name=pipelines -c user.email=pipelines@example.org commit -qam "The stacks made deployable on this machine"

yaml_block() { sed 's/^/      /' "$1"; }
umask 077
{
  for env in "${ENVS[@]}"; do
    printf 'KUBECONFIG_%s:\n  type: file\n  values:\n    "*": |\n' "${env^^}"
    yaml_block "${KUBECONFIG}"
  done
  printf 'AWS_CA_BUNDLE:\n  type: file\n  values:\n    "*": |\n'
  yaml_block "${S3_CA}"
  printf 'PULUMI_BACKEND_URL: "%s"\nAWS_ACCESS_KEY_ID: "%s"\nAWS_SECRET_ACCESS_KEY: "%s"\nPULUMI_CONFIG_PASSPHRASE: "%s"\n' \
    "${S3_BACKEND_URL}" "${S3_KEY}" "${S3_SECRET}" "${PULUMI_CONFIG_PASSPHRASE}"
} >"${REPO}/.gitlab-ci-local-variables.yml"
umask 022
# The jobs take these from the variables file, as from GitLab's settings, not from the runner.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_CA_BUNDLE PULUMI_BACKEND_URL
export PULUMI_SKIP_UPDATE_CHECK=true

# ---------------------------------------------------------------- push to main

run_pipeline push pass --variable CI_PIPELINE_SOURCE=push
check "up:prod waited for its manual start: no xnat-jobs namespace yet" \
  bash -c '! kubectl get namespace xnat-jobs >/dev/null 2>&1'
run_pipeline "push, up:prod started" pass --variable CI_PIPELINE_SOURCE=push --manual up:prod --job up:prod
for env in "${ENVS[@]}"; do
  for ns in ${NAMESPACES[${env}]}; do
    check "${env}: ${ns}'s pull Secret is byte-identical to kubectl's" secret_is_kubectls "${ns}" "${env}"
    check "${env}: a pod in ${ns} with no pull secret of its own pulls ${REGISTRY_IMAGE}" pod_pulls "${ns}"
  done
done

# ---------------------------------------------------------------- merge request

git -C "${REPO}" checkout -q -b dev-team-label
operator config set --stack dev --path 'labels.team' pipelines
git -C "${REPO}" -c user.name=pipelines -c user.email=pipelines@example.org commit -qam "Label dev's namespace"
before="$(fingerprint)"
run_pipeline "merge request" pass --variable CI_PIPELINE_SOURCE=merge_request_event --job preview
after="$(fingerprint)"
check "merge request: the bucket's state and the namespaces' objects are untouched" test "${before}" == "${after}"
check "merge request: dev's preview shows the label it would add" \
  bash -c "grep -F 'preview: [dev' '${WORK}/merge request.log' | grep -qE '\\+ +team *: *\"pipelines\"'"
git -C "${REPO}" checkout -q main

# ---------------------------------------------------------------- schedules: reconcile and drift

# Prod gains a third tenant, every namespace labelled into the "pipelines" project and every
# ServiceAccount there (docs/tenants.md, "Namespaces by label"), merged to main and deployed by
# up:prod, the approved up, matching none yet. (Not in the stack files the push pipeline tests:
# npm test runs the program on them with no cluster, which a selector needs.)
operator config set --stack prod --path "tenants[2].namespaceSelector.matchLabels[\"${PROJECT_LABEL%%=*}\"]" "${PROJECT_LABEL#*=}"
operator config set --stack prod --path 'tenants[2].serviceAccounts' '*'
git -C "${REPO}" -c user.name=pipelines -c user.email=pipelines@example.org commit -qam "prod: the pipelines project's namespaces"
run_pipeline "push, prod's project tenant, up:prod" pass --variable CI_PIPELINE_SOURCE=push --manual up:prod --job up:prod
reconcile_schedule=(--variable CI_PIPELINE_SOURCE=schedule --variable REGISTRY_ACCESS_SCHEDULE=reconcile)
# said PIPELINE REGEX: a line of that pipeline's log matches (one grep: no pipe for pipefail to trip).
said() { grep -qE -- "$2" "${WORK}/$1.log"; }
# The ServiceAccount NS/NAME lists prod's team-registry Secret.
account_lists() { [[ " $(kubectl get serviceaccount "$2" -n "$1" -o jsonpath='{.imagePullSecrets[*].name}') " == *" regcred-"* ]]; }
# Prod's state holds no URN containing TEXT (read into a variable, never printed).
state_lacks() {
  local state
  state="$(operator stack export --stack prod)" && [[ "${state}" != *"$1"* ]]
}
no_pull_secret() { [[ -z "$(kubectl get secrets -n "$1" -o name | grep 'regcred-' || true)" ]]; }

# Two namespaces join the project after prod's up, one with a chart's ServiceAccount.
for ns in "${PROJECT_NAMESPACES[@]}"; do
  kubectl create namespace "${ns}" >/dev/null
  kubectl label namespace "${ns}" "${PROJECT_LABEL}" >/dev/null
done
kubectl create serviceaccount chart-sa -n pipelines-a >/dev/null
name="schedule, no drift"
run_pipeline "${name}" pass --variable CI_PIPELINE_SOURCE=schedule
check "drift: prod passes with two namespaces labelled into its project since its up (the reconcile's work)" \
  said "${name}" '^ PASS .*drift: \[prod'
for env in "${ENVS[@]}"; do
  check "doctor: ${env}'s doctor job ran and passed" said "${name}" "^ PASS .*doctor: \[${env}"
done
check "drift: no reconcile job ran in the drift schedule" bash -c "! grep -q 'reconcile:' '${WORK}/${name}.log'"
check "drift: pipelines-a has no pull Secret before the reconcile" no_pull_secret pipelines-a

name="schedule, reconcile"
run_pipeline "${name}" pass "${reconcile_schedule[@]}"
for ns in "${PROJECT_NAMESPACES[@]}"; do
  check "reconcile: ${ns}, labelled after prod's up, got a pull Secret byte-identical to kubectl's" secret_is_kubectls "${ns}" prod
done
check "reconcile: the ServiceAccount made in pipelines-a lists it too (serviceAccounts \"*\")" account_lists pipelines-a chart-sa
check "reconcile: a pod in pipelines-a with no pull secret of its own pulls ${REGISTRY_IMAGE}" pod_pulls pipelines-a
for env in dev staging; do
  check "reconcile: ${env} had nothing to do" said "${name}" "reconcile:${env} .*reconcile: ${env}: nothing to do"
done
check "reconcile: prod's (only adding) listed the Secret to create" said "${name}" 'reconcile:prod .*\+ create kubernetes:core/v1:Secret pipelines-a/regcred-'
check "reconcile: no drift job ran in the reconcile schedule" bash -c "! grep -q 'drift: \[' '${WORK}/${name}.log'"
run_pipeline "schedule, prod's drift after the reconcile" pass --variable CI_PIPELINE_SOURCE=schedule --job "drift: [prod,KUBECONFIG_PROD]"

# Prod's gate: one namespace deleted (its objects dropped from the state: nothing to delete), one
# unlabelled (its Secret and patches would be deleted: only the approved up:prod may).
kubectl delete namespace pipelines-b --wait=true --timeout=120s >/dev/null
kubectl label namespace pipelines-a "${PROJECT_LABEL%%=*}-" >/dev/null
name="schedule, reconcile, a namespace deleted and one unlabelled"
run_pipeline "${name}" fail "${reconcile_schedule[@]}" --job reconcile:prod
check "reconcile: prod's fails" said "${name}" '^ FAIL .*reconcile:prod'
check "reconcile: prod's names the Secret's delete" said "${name}" 'reconcile:prod .*delete kubernetes:core/v1:Secret pipelines-a/regcred-'
check "reconcile: prod's says to run up:prod" said "${name}" 'reconcile:prod .*manual up:prod'
check "reconcile: the unlabelled namespace keeps its Secret" secret_is_kubectls pipelines-a prod
check "reconcile: the deleted namespace's objects are gone from prod's state (the targeted refresh)" \
  state_lacks 'kubernetes:core/v1:Secret::pipelines-b/'
kubectl label namespace pipelines-a "${PROJECT_LABEL}" >/dev/null
run_pipeline "schedule, reconcile, labelled again" pass "${reconcile_schedule[@]}" --job reconcile:prod
check "reconcile: the deleted namespace's component record is gone too" state_lacks '::pipelines-b'
# The seed's command, run by hand after the last up, and a Secret edited in place.
kubectl patch serviceaccount default -n xnat-jobs-staging -p '{"imagePullSecrets":[{"name":"regcred"}]}' >/dev/null
prod_secret="$(kubectl get serviceaccount default -n xnat-jobs -o jsonpath='{.imagePullSecrets[0].name}')"
kubectl patch secret "${prod_secret}" -n xnat-jobs --type merge \
  -p "{\"data\":{\".dockerconfigjson\":\"$(printf '{"auths":{}}' | base64 -w0)\"}}" >/dev/null
before="$(fingerprint)"
run_pipeline "schedule, after kubectl patch" fail --variable CI_PIPELINE_SOURCE=schedule --job drift
after="$(fingerprint)"
check "drift: the drift jobs changed nothing" test "${before}" == "${after}"
check "drift: dev passes" bash -c "grep -qE '^ PASS .*drift: \\[dev' '${WORK}/schedule, after kubectl patch.log'"
for pair in "staging:kubernetes:core/v1:ServiceAccountPatch" "prod:kubernetes:core/v1:Secret"; do
  env="${pair%%:*}" resource="${pair#*:}"
  check "drift: ${env} fails naming its ${resource}" \
    bash -c "grep -qE '^ FAIL .*drift: \\[${env}' '${WORK}/schedule, after kubectl patch.log' &&
      grep -F 'drift: [${env}' '${WORK}/schedule, after kubectl patch.log' | grep -qF '~ ${resource}: (update)'"
done
# The repair docs/deploy.md gives: a plain `up` sees no change (the state still matches the
# config); `up --refresh` puts the Secret back, and takes the list back from kubectl-patch only
# with patchForce on, for that one run.
repair() {
  local env="$1"
  if [[ "${env}" == staging ]]; then
    operator config set --stack staging patchForce true &&
      operator up --refresh --yes --skip-preview --stack staging --non-interactive &&
      operator config rm --stack staging patchForce &&
      operator up --yes --skip-preview --stack staging --non-interactive
  else
    operator up --refresh --yes --skip-preview --stack "${env}" --non-interactive
  fi
}
for env in staging prod; do
  check "drift: ${env} repaired as docs/deploy.md says" repair "${env}" >"${WORK}/repair-${env}.log" 2>&1
  check "drift: after the repair, ${env}'s drift job's command passes" \
    operator preview --refresh --expect-no-changes --stack "${env}" --non-interactive >>"${WORK}/repair-${env}.log" 2>&1
done

check "no password or passphrase in any job's output" no_plaintext_in_logs
check "no job's file variables (kubeconfigs) left in /tmp" no_file_variables_left
# Without kubectl (the jobs install it), prod's two tenants make every pulumi job warn.
check "no job lacked kubectl: no image-isolation \"cannot tell (...)\", no \"kubectl is not on PATH\"" \
  bash -c '! grep -E ": cannot tell \(|kubectl is not on PATH" "$@"' _ "${PIPELINE_LOGS[@]}"

printf '%s\n' "pipelines: the job lists, as gitlab-ci-local reported them, and the checks:" "${SUMMARY[@]}"
if ((${#FAILURES[@]} > 0)); then
  printf 'pipelines: FAILED: %s\n' "${FAILURES[@]}" >&2
  exit 1
fi
log "all pipelines ran as expected"
