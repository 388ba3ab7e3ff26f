#!/usr/bin/env bash
# What the SDK tests (tests/collector/test_segment_sdks.py) need besides Python: node and the
# pinned npm packages of tests/sdk (npm ci, from the lockfile); Chromium is `make browser`'s.
# Run by `make test`. Without root, what is missing is said and the tests that need it skip (not in CI).
set -euo pipefail
cd "$(dirname "$0")"
missing=()
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  else
    echo "tests/sdk: missing ${missing[*]} (apt-get install ${missing[*]})" >&2
  fi
fi
if command -v npm >/dev/null && { [ ! -f node_modules/.installed ] ||
    [ package-lock.json -nt node_modules/.installed ]; }; then
  npm ci --no-audit --no-fund --omit=optional  # not rudder-sdk-node's Redis queue (bull)
  touch node_modules/.installed
fi
