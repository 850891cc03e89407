#!/usr/bin/env bash
# Mutation testing (Stryker, stryker.config.json) of components/ and check/, one Stryker run per
# file, each with its own incremental file in reports/incremental/. A run of one file keeps its
# result as soon as it ends, so a long run can be stopped and resumed, and a file whose code and
# covering tests did not change is not tested again. Then the score of every file and overall.
# FILE:LINES adds to FILE's result (Stryker keeps the mutants outside the lines), so a large file
# can be run in parts, each kept as it ends.
#   bash scripts/mutate.sh [FILE[:LINES,...]...] [STRYKER OPTION...]   e.g. components/names.ts --force
#   bash scripts/mutate.sh --changed [STRYKER OPTION...]   only the lines a change touches (CI)
# MUTATE_RESULTS: where the results go (reports/incremental; reports/incremental-changed with --changed).
set -euo pipefail
cd "$(dirname "$0")/.."
score="node build/scripts/lib/mutationScore.js"

# The lines of components/ and check/ that differ from the merge base with origin/main
# (MUTATE_BASE for another ref) or, on main itself or without that ref, from the previous commit,
# as FILE:FROM-TO[,FROM-TO...] per file: the new side of every hunk, a pure deletion as the two
# lines around it. So CI's time follows the size of the change (a whole file can take hours).
changed_targets() {
  local ref="${MUTATE_BASE:-origin/main}" base file ranges
  base=$(git merge-base HEAD "$ref" 2>/dev/null || git rev-parse HEAD)
  if [ "$base" = "$(git rev-parse HEAD)" ]; then
    if ! base=$(git rev-parse --verify -q HEAD~1); then
      echo "mutate: no commit before HEAD here (a shallow clone?); fetch more history (git fetch --deepen 1) to test the last change" >&2
      return 2
    fi
  fi
  echo "mutate: the lines changed since ${base:0:12}" >&2
  git diff --name-only --diff-filter=AMR "$base" -- 'components/*.ts' 'check/*.ts' | while read -r file; do
    ranges=$(git diff -U0 "$base" -- "$file" | sed -n 's/^@@ -[0-9,]* +\([0-9]*\)\(,\([0-9]*\)\)\? @@.*/\1 \3/p' |
      while read -r start count; do
        count="${count:-1}"
        if [ "$count" -eq 0 ]; then
          echo "${file}:$((start > 1 ? start : 1))-$((start + 1))"
        else
          echo "${file}:${start}-$((start + count - 1))"
        fi
      done | paste -sd, -)
    [ -z "$ranges" ] || echo "$ranges"
  done
}

files=()
options=()
changed=false
for arg in "$@"; do
  case "$arg" in
    --changed) changed=true ;;
    -*) options+=("$arg") ;;
    *) if [ ${#options[@]} -gt 0 ]; then options+=("$arg"); else files+=("$arg"); fi ;;
  esac
done
if $changed; then
  list=$(changed_targets) || exit $?
  [ -z "$list" ] || mapfile -t files <<< "$list"
  if [ ${#files[@]} -eq 0 ]; then
    echo "mutate: no line of components/ or check/ changed"
    exit 0
  fi
  results="${MUTATE_RESULTS:-reports/incremental-changed}"
else
  [ ${#files[@]} -gt 0 ] || files=(components/*.ts check/*.ts)
  results="${MUTATE_RESULTS:-reports/incremental}"
fi

export FUZZ_SEED="${FUZZ_SEED:-20261125}"
# @stryker-mutator/mocha-runner 10.0.0 cannot find Mocha 12's cli files (stryker-js PR 6205).
export NODE_OPTIONS="--require $PWD/scripts/lib/stryker-mocha12.cjs"
mkdir -p "$results"
status=0
sources=()
for target in "${files[@]}"; do
  file="${target%%:*}"
  sources+=("$file")
  echo "mutate: ${target}" >&2
  started=$SECONDS
  npx stryker run --mutate "$target" --incrementalFile "$($score --dir "$results" --path "$file")" \
    ${options[@]+"${options[@]}"} || status=$?
  echo "mutate: ${target} took $((SECONDS - started)) s" >&2
done
[ "$status" -eq 0 ] || exit "$status"
# The break threshold (85%) is judged once, over all the files.
$score --dir "$results" --break 85 "${sources[@]}"
