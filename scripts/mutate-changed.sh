#!/usr/bin/env bash
# Mutation testing of the lines of components/ and check/ that a change touches: those differing
# from the merge base with origin/main (MUTATE_BASE to compare with another ref), or, on main
# itself or without that ref, from the previous commit. Only the changed lines, so that the time
# follows the size of the change (a whole file can take hours). Results go to
# reports/incremental-changed/, beside the full run's (npm run mutate, README, Tests).
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
mapfile -t files < <(git diff --name-only --diff-filter=AMR "$base" -- 'components/*.ts' 'check/*.ts')
if [ ${#files[@]} -eq 0 ]; then
  echo "mutate:changed: no file in components/ or check/ changed since ${base:0:12}"
  exit 0
fi
# Each file as FILE:FROM-TO[,FILE:FROM-TO...], the new side of every hunk; a pure deletion
# becomes the two lines around it.
targets=()
for file in "${files[@]}"; do
  ranges=$(git diff -U0 "$base" -- "$file" | sed -n 's/^@@ -[0-9,]* +\([0-9]*\)\(,\([0-9]*\)\)\? @@.*/\1 \3/p' |
    while read -r start count; do
      count="${count:-1}"
      if [ "$count" -eq 0 ]; then
        echo "${file}:$((start > 1 ? start : 1))-$((start + 1))"
      else
        echo "${file}:${start}-$((start + count - 1))"
      fi
    done | paste -sd, -)
  [ -z "$ranges" ] || targets+=("$ranges")
done
echo "mutate:changed: ${targets[*]} (since ${base:0:12})"
MUTATE_RESULTS=reports/incremental-changed exec npm run --silent mutate -- "${targets[@]}"
