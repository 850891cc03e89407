#!/usr/bin/env bash
# Mutation testing (Stryker, stryker.config.json) of components/ and check/, one Stryker run per
# file, each with its own incremental file in reports/incremental/. A run of one file keeps its
# result as soon as it ends, so a long run can be stopped and resumed, and a file whose code and
# covering tests did not change is not tested again. Then the score of every file and overall.
# FILE:LINES adds to FILE's result (Stryker keeps the mutants outside the lines), so a large file
# can be run in parts, each kept as it ends.
#   bash scripts/mutate.sh [FILE[:LINES,...]...] [STRYKER OPTION...]   e.g. components/names.ts --force
# MUTATE_RESULTS: where the results go (reports/incremental).
set -euo pipefail
cd "$(dirname "$0")/.."
files=()
options=()
for arg in "$@"; do
  case "$arg" in
    -*) options+=("$arg") ;;
    *) if [ ${#options[@]} -gt 0 ]; then options+=("$arg"); else files+=("$arg"); fi ;;
  esac
done
[ ${#files[@]} -gt 0 ] || files=(components/*.ts check/*.ts)

export FUZZ_SEED="${FUZZ_SEED:-20261125}"
# @stryker-mutator/mocha-runner 10.0.0 cannot find Mocha 12's cli files (stryker-js PR 6205).
export NODE_OPTIONS="--require $PWD/scripts/stryker-mocha12.cjs"
results="${MUTATE_RESULTS:-reports/incremental}"
mkdir -p "$results"
status=0
sources=()
for target in "${files[@]}"; do
  file="${target%%:*}"
  sources+=("$file")
  echo "mutate: ${target}" >&2
  started=$SECONDS
  npx stryker run --mutate "$target" --incrementalFile "$(node build/scripts/mutationScore.js --dir "$results" --path "$file")" \
    ${options[@]+"${options[@]}"} || status=$?
  echo "mutate: ${target} took $((SECONDS - started)) s" >&2
done
[ "$status" -eq 0 ] || exit "$status"
# The break threshold (85%) is judged once, over all the files.
node build/scripts/mutationScore.js --dir "$results" --break 85 "${sources[@]}"
