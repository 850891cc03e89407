#!/usr/bin/env bash
# Mutation testing of the files in components/ and check/ that a change touches: those differing
# from the merge base with origin/main (MUTATE_BASE to compare with another ref), or, on main
# itself, from the previous commit. The full run (npm run mutate) is documented in README, Tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ref="${MUTATE_BASE:-origin/main}"
if ! base=$(git merge-base HEAD "$ref" 2>/dev/null); then
  echo "mutate:changed: cannot find $ref (a shallow clone? fetch it, or set MUTATE_BASE)" >&2
  exit 2
fi
if [ "$base" = "$(git rev-parse HEAD)" ]; then
  base=$(git rev-parse HEAD~1)
fi
files=$(git diff --name-only --diff-filter=AMR "$base" -- 'components/*.ts' 'check/*.ts' | paste -sd, -)
if [ -z "$files" ]; then
  echo "mutate:changed: no file in components/ or check/ changed since ${base:0:12}"
  exit 0
fi
echo "mutate:changed: $files (since ${base:0:12})"
exec npm run --silent mutate -- --mutate "$files"
