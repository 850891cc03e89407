#!/usr/bin/env bash
# Mutation testing of the files in components/ and check/ that a change touches: those differing
# from the merge base with origin/main (MUTATE_BASE to compare with another ref), or, on main
# itself or without that ref, from the previous commit. The full run (npm run mutate) is documented in README, Tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ref="${MUTATE_BASE:-origin/main}"
# Without that ref (a clone with no remote), the change is the last commit, as on main itself.
base=$(git merge-base HEAD "$ref" 2>/dev/null || git rev-parse HEAD)
if [ "$base" = "$(git rev-parse HEAD)" ]; then
  if ! base=$(git rev-parse --verify -q HEAD~1); then
    # A clone of depth 1 has no previous commit to tell the change by.
    echo "mutate:changed: no commit before HEAD here (a shallow clone?); fetch more history (git fetch --deepen 1) to test the last change" >&2
    exit 2
  fi
fi
files=$(git diff --name-only --diff-filter=AMR "$base" -- 'components/*.ts' 'check/*.ts' | paste -sd, -)
if [ -z "$files" ]; then
  echo "mutate:changed: no file in components/ or check/ changed since ${base:0:12}"
  exit 0
fi
echo "mutate:changed: $files (since ${base:0:12})"
exec npm run --silent mutate -- --mutate "$files"
