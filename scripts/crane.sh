#!/usr/bin/env bash
# crane (github.com/google/go-containerregistry), built from Go modules once and cached, for the
# doctor's cluster test, which asks it for each case's manifest as a second client:
#   scripts/crane.sh    prints the binary's path
# Environment:
#   REGISTRY_ACCESS_CACHE   where the binary is kept (default ~/.cache/registry-access)
set -euo pipefail

readonly LOG_NAME=crane
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly GO_BUILD_CACHE="${REGISTRY_ACCESS_CACHE:-${HOME}/.cache/registry-access}/tools"
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly

GO_CMD="$(find_go)"
readonly GO_CMD
version="$(required_version "${ROOT}/toolchain/crane" github.com/google/go-containerregistry)"
go_build crane "${version}" "${ROOT}/toolchain/crane" github.com/google/go-containerregistry/cmd/crane ""
