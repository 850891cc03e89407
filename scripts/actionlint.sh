#!/usr/bin/env bash
# Lints the GitHub workflows with actionlint (expressions, contexts, action inputs, job needs,
# and the `run:` scripts through shellcheck), built from Go modules once and cached:
#   scripts/actionlint.sh    run by `npm run lint:workflows`; exits non-zero on any finding
# Not in `npm test`, which must pass where there is only Node (the pipelines' images): .ci/run and
# the GitHub workflow's lint-workflows job (which sets up Go) run it.
# Environment:
#   REGISTRY_ACCESS_CACHE   where the binary is kept (default ~/.cache/registry-access)
set -euo pipefail

readonly LOG_NAME=actionlint
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly GO_BUILD_CACHE="${REGISTRY_ACCESS_CACHE:-${HOME}/.cache/registry-access}/tools"
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly

# Without shellcheck on PATH actionlint silently skips the `run:` scripts.
command -v shellcheck >/dev/null || ensure_packages shellcheck
GO_CMD="$(find_go)"
readonly GO_CMD
version="$(required_version "${ROOT}/toolchain/actionlint" github.com/rhysd/actionlint)"
binary="$(go_build actionlint "${version}" "${ROOT}/toolchain/actionlint" github.com/rhysd/actionlint/cmd/actionlint \
  "-X github.com/rhysd/actionlint.version=${version}")"
cd "${ROOT}"
"${binary}" -no-color -pyflakes= -shellcheck "$(command -v shellcheck)"
