#!/usr/bin/env bash
# Runs behavediff check for the action (or any CI) and collects what to
# upload in BD_ARTIFACTS. It never fails the step itself: the verdict step
# does, after the artifacts are uploaded.
# Env: BD_SPECS BD_FAIL_ON BD_JOBS BD_NET BD_SHARD BD_TOTAL BD_ARTIFACTS,
# GITHUB_OUTPUT, GITHUB_STEP_SUMMARY (both optional).
set -uo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -E env PATH=$PATH"
art="${BD_ARTIFACTS:?BD_ARTIFACTS must name the artifact directory}"
mkdir -p "$art"
out="${GITHUB_OUTPUT:-/dev/null}"
echo "artifact-dir=$art" >> "$out"

help=$(behavediff check --help 2>&1 || true)
args=(check --fail-on "${BD_FAIL_ON:-medium}"
  --output "json=$art/behavediff.json" --output "sarif=$art/behavediff.sarif"
  --output "junit=$art/behavediff.xml" --output "markdown=$art/summary.md"
  --report "$art/html")
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  args+=(--summary-file "$GITHUB_STEP_SUMMARY")
fi
if [ "${BD_TOTAL:-1}" != 1 ]; then
  args+=(--shard "${BD_SHARD:-1}/${BD_TOTAL}")
fi
# Flags other versions may not have: used when this behavediff has them.
if [ "${BD_JOBS:-1}" != 1 ]; then
  if grep -qE '^ +-jobs( |$)' <<<"$help"; then args+=(--jobs "$BD_JOBS"); else echo "::warning::behavediff check has no --jobs; checking one spec at a time"; fi
fi
if [ -n "${BD_NET:-}" ]; then
  if grep -qE '^ +-net( |$)' <<<"$help"; then args+=(--net "$BD_NET"); else echo "::warning::behavediff check has no --net; the sandbox keeps its default network policy"; fi
fi
# shellcheck disable=SC2206
specs=(${BD_SPECS:-})

$SUDO behavediff "${args[@]}" "${specs[@]}"
code=$?
echo "exit-code=$code" >> "$out"
verdict=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "$art/behavediff.json" 2>/dev/null || echo error)
echo "verdict=$verdict" >> "$out"

# What a reviewer needs: the traces, and every pending baseline with the
# path to put it at (docs/ci.md: reviewing pending baselines locally).
if [ -f .behavediff/traces.db ]; then
  $SUDO behavediff query --db .behavediff/traces.db "SELECT count(*) FROM runs" >/dev/null 2>&1 || true
  cp .behavediff/traces.db "$art/traces.db"
  for f in .behavediff/traces.db-wal .behavediff/traces.db-shm; do [ -f "$f" ] && cp "$f" "$art/"; done
fi
shopt -s nullglob
pending=(.behavediff/baselines/*.yaml.new)
if [ ${#pending[@]} -gt 0 ]; then
  mkdir -p "$art/pending-baselines"
  cp "${pending[@]}" "$art/pending-baselines/"
fi
$SUDO chown -R "$(id -u):$(id -g)" "$art" 2>/dev/null || true
exit 0
