#!/usr/bin/env bash
# Builds the Pulumi CLI and the providers the program deploys with from their Go modules, through
# the wrapper modules in toolchain/ (go.mod and go.sum committed, so the build is reviewable), and
# registers the providers with the CLI so that the engine never tries to download one.
#
#   scripts/pulumi-toolchain.sh   build what is missing; the last line of stdout is the bin dir:
#                                   export PATH="$(scripts/pulumi-toolchain.sh | tail -1):$PATH"
#
# Binaries are cached in $REGISTRY_ACCESS_CACHE/pulumi (default ~/.cache/registry-access), keyed by
# release and by a hash of the wrapper module: a second run builds nothing, a version bump rebuilds
# only what changed.
#
# Environment:
#   GO             the go command (default: the newest of /usr/local/go/bin/go and `go` on PATH;
#                  Debian's golang-go, which local-cluster.sh installs, is too old)
#   PULUMI_HOME    where the CLI keeps its plugins (default ~/.pulumi)
set -euo pipefail

readonly LOG_NAME=pulumi-toolchain
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly CACHE="${REGISTRY_ACCESS_CACHE:-${HOME}/.cache/registry-access}/pulumi"
readonly BIN="${CACHE}/bin"
# Where go_build (lib/common.sh) keeps what it builds.
readonly GO_BUILD_CACHE="${CACHE}"

export GOTOOLCHAIN=local GOFLAGS=-mod=readonly

# The version the npm lockfile has for PACKAGE.
npm_version() {
  node -p "require('${ROOT}/package-lock.json').packages['node_modules/$1'].version"
}

# The Kubernetes provider's main embeds its schema with the release version set, and its
# terraform mapping compacted, as upstream's `go generate` makes them; the module zip has neither.
kubernetes_generate() {
  local version="$1" dir
  "${GO_CMD}" mod download github.com/pulumi/pulumi-kubernetes/provider/v4
  dir="$("${GO_CMD}" list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)/cmd/pulumi-resource-kubernetes"
  node -e '
    const fs = require("fs");
    const [dir, version] = process.argv.slice(1);
    const schema = JSON.parse(fs.readFileSync(`${dir}/schema.json`, "utf8"));
    schema.version = version;
    fs.writeFileSync("schema-embed.json", JSON.stringify(schema));
    fs.writeFileSync("terraform-mapping-embed.json", JSON.stringify(JSON.parse(fs.readFileSync(`${dir}/terraform-mapping.json`, "utf8"))));
  ' "${dir}" "${version}"
}

# The random provider is the Terraform provider's code through Pulumi's bridge, as upstream's
# pulumi-random is (whose own module the proxy does not serve): its schema and bridge metadata are
# written by the wrapper's tfgen, built with the provider's flags so that the two share the build
# cache. tfgen runs `go mod download` for the Terraform docs, in ./provider and with the go on PATH;
# --skip-examples: converting the docs' HCL examples would need a pulumi CLI and converter plugin,
# and changes only descriptions.
random_generate() {
  local version="$1"
  CGO_ENABLED=0 "${GO_CMD}" build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X registry-access/toolchain/pulumi-random/provider.Version=${version}" \
    -o pulumi-tfgen-random ./cmd/pulumi-tfgen-random
  PATH="$(dirname "${GO_CMD}"):${PATH}" ./pulumi-tfgen-random schema --skip-examples --out cmd/pulumi-resource-random >&2
}

# Registers a provider binary under its version unless that exact binary is already registered.
register_plugin() {
  local name="$1" version="$2" binary="$3" installed
  installed="${PULUMI_HOME:-${HOME}/.pulumi}/plugins/resource-${name}-v${version}/pulumi-resource-${name}"
  if [[ -x "${installed}" ]] && cmp -s "${installed}" "${binary}"; then
    return 0
  fi
  "${BIN}/pulumi" plugin install resource "${name}" "${version}" --file "${binary}" --reinstall >&2
  log "registered pulumi-resource-${name} ${version} with the CLI"
}

main() {
  GO_CMD="$(find_go)"
  readonly GO_CMD
  local cli_version k8s_version k8s_npm cli kubernetes host_version host random_version random_npm random
  command -v node >/dev/null || die "needs node (source scripts/setup.sh first)"

  cli_version="$(required_version "${ROOT}/toolchain/pulumi" github.com/pulumi/pulumi/pkg/v3)"
  cli="$(go_build pulumi "${cli_version}" "${ROOT}/toolchain/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${cli_version}")"

  # The provider module has no tags: its release is named in the wrapper's go.mod and must be the
  # npm SDK's, or the engine would look for a plugin version nobody built.
  k8s_version="$(sed -n 's|^// release: ||p' "${ROOT}/toolchain/pulumi-kubernetes/go.mod")"
  k8s_npm="$(npm_version @pulumi/kubernetes)"
  [[ "${k8s_version}" == "${k8s_npm}" ]] ||
    die "toolchain/pulumi-kubernetes builds provider ${k8s_version} but package-lock.json has @pulumi/kubernetes ${k8s_npm}; change one to match the other"
  kubernetes="$(go_build pulumi-resource-kubernetes "${k8s_version}" \
    "${ROOT}/toolchain/pulumi-kubernetes" . \
    "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${k8s_version}" kubernetes_generate)"

  mkdir -p "${BIN}"
  ln -sfn "${cli}" "${BIN}/pulumi"
  register_plugin kubernetes "${k8s_version}" "${kubernetes}"

  # The Node.js language host later moved to a module of its own, which the proxy does not
  # serve; in sdk/v3 v3.68.0 it is still a package of sdk/v3. The CLI runs the host it finds
  # beside its own (resolved) executable without the "from \$PATH" warning, so it goes there.
  host_version="$(required_version "${ROOT}/toolchain/pulumi-language-nodejs" github.com/pulumi/pulumi/sdk/v3)"
  host="$(go_build pulumi-language-nodejs "${host_version}" "${ROOT}/toolchain/pulumi-language-nodejs" \
    github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${host_version}")"
  cmp -s "${host}" "$(dirname "${cli}")/pulumi-language-nodejs" || install -m 0755 "${host}" "$(dirname "${cli}")/pulumi-language-nodejs"

  # As for Kubernetes: the release whose resources the wrapper maps must be the npm SDK's.
  random_version="$(sed -n 's|^// release: ||p' "${ROOT}/toolchain/pulumi-random/go.mod")"
  random_npm="$(npm_version @pulumi/random)"
  [[ "${random_version}" == "${random_npm}" ]] ||
    die "toolchain/pulumi-random builds provider ${random_version} but package-lock.json has @pulumi/random ${random_npm}; change one to match the other"
  random="$(go_build pulumi-resource-random "${random_version}" "${ROOT}/toolchain/pulumi-random" \
    ./cmd/pulumi-resource-random \
    "-X registry-access/toolchain/pulumi-random/provider.Version=${random_version}" random_generate)"
  register_plugin random "${random_version}" "${random}"
  echo "${BIN}"
}

main "$@"
