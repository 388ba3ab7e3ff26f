#!/usr/bin/env bash
# Build a Go peer of the benchmark from the Go module proxy, once, into a cache, and print the
# path of its binary. Usage: bench/peers/build.sh benthos|vegeta
# The cache key is the hash of the wrapper's files, so an edit here rebuilds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SURGE_PEERS_CACHE:-$HOME/.cache/surge/peers}
name=$1
case $name in
  benthos)
    key=$(cat "$here/benthos/main.go" "$here/benthos/go.mod" "$here/peercred/go.mod" \
      $( [ -f "$here/benthos/go.sum" ] && echo "$here/benthos/go.sum") | sha256sum | cut -c1-12)
    out=$cache/benthos-$key
    if [ ! -x "$out/benthos" ]; then
      rm -rf "$out.build" && mkdir -p "$out.build"
      cp -r "$here/benthos" "$here/peercred" "$out.build/"
      # -mod=mod: resolve and write go.sum in the build copy (go.sum may not be committed yet);
      # -checklinkname=0: Benthos's dependencies link to runtime internals newer Go hides.
      (cd "$out.build/benthos" && GOFLAGS=-mod=mod go build -trimpath \
        -ldflags=-checklinkname=0 -o benthos .) >&2
      mkdir -p "$out" && mv "$out.build/benthos/benthos" "$out/benthos"
      cp "$out.build/benthos/go.mod" "$out.build/benthos/go.sum" "$out/"
      rm -rf "$out.build"
    fi
    echo "$out/benthos";;
  vegeta)
    out=$cache/vegeta-v12.13.0
    if [ ! -x "$out/vegeta" ]; then
      mkdir -p "$out"
      GOBIN=$out GOFLAGS=-mod=mod go install github.com/tsenart/vegeta/v12@v12.13.0 >&2
    fi
    echo "$out/vegeta";;
  *) echo "usage: $0 benthos|vegeta" >&2; exit 2;;
esac
