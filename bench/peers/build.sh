#!/usr/bin/env bash
# Build a Go peer of the benchmark from the Go module proxy, once, into a cache, and print the
# path of its binary. Usage: bench/peers/build.sh benthos|vegeta
# The cache key is the hash of the wrapper's sources (go.sum only pins what go.mod names), so
# an edit of them rebuilds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SURGE_PEERS_CACHE:-$HOME/.cache/surge/peers}
name=$1
mkdir -p "$cache"
# One build at a time: a second bench started meanwhile waits for the first one's binary.
exec 9>"$cache/.build.lock"
flock 9
case $name in
  benthos)
    key=$(cat "$here/benthos/main.go" "$here/benthos/go.mod" "$here/peercred/go.mod" \
      | sha256sum | cut -c1-12)
    out=$cache/benthos-$key
    if [ ! -x "$out/benthos" ]; then
      rm -rf "$out.build" && mkdir -p "$out.build"
      cp -r "$here/benthos" "$here/peercred" "$out.build/"
      # -mod=mod: resolve the indirect requirements go.mod leaves out, in the build copy;
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
