#!/usr/bin/env bash
# Installs behavediff and its runtime (containerd, runc) on a Debian/Ubuntu
# runner; what is already there is used as is (no network then).
# Env: BD_BINARY (prebuilt binary, optional), BD_SOURCE (behavediff source),
# RUNNER_TEMP, GITHUB_PATH.
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

missing=""
for p in containerd runc; do
  command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "behavediff: installing$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

bin="${RUNNER_TEMP:-/tmp}/behavediff-bin"
mkdir -p "$bin"
if [ -n "${BD_BINARY:-}" ]; then
  install -m 0755 "$BD_BINARY" "$bin/behavediff"
else
  command -v go >/dev/null 2>&1 || { echo "behavediff: Go is needed to build from source (actions/setup-go), or pass the binary input" >&2; exit 1; }
  version=$(git -C "$BD_SOURCE" describe --always --dirty 2>/dev/null || echo action)
  (cd "$BD_SOURCE" && CGO_ENABLED=0 go build -ldflags "-X main.version=$version" -o "$bin/behavediff" ./cmd/behavediff)
fi
echo "$bin" >> "${GITHUB_PATH:-/dev/null}"
"$bin/behavediff" version
