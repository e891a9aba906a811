#!/usr/bin/env bash
# Builds rancher's local-path-provisioner from the Go module proxy into
# $KUBESEED_CACHE/local-path-provisioner/<version>/local-path-provisioner, reused when present.
set -euo pipefail

# Newest version the proxy serves (later tags are refused).
version=v0.0.30
cache=${KUBESEED_CACHE:-$HOME/.cache/kubeseed}
out=$cache/local-path-provisioner/$version
[ -x "$out/local-path-provisioner" ] && exit 0

# Its main package is the module root, which cannot be imported: the tool module names it
# with a `tool` directive so that `go build` accepts the package path as it is.
pkg=github.com/rancher/local-path-provisioner
mod=$cache/src/local-path-provisioner-$version
mkdir -p "$out" "$mod"
if [ ! -f "$mod/.ready" ]; then
  echo "local-path-bin: preparing tool module for local-path-provisioner $version in $mod" >&2
  printf 'module kubeseed.local/local-path-provisioner\n\ngo 1.26\n\ntool %s\n\nrequire %s %s\n' "$pkg" "$pkg" "$version" >"$mod/go.mod"
  (cd "$mod" && go mod tidy)
  touch "$mod/.ready"
fi
echo "local-path-bin: building local-path-provisioner $version" >&2
(cd "$mod" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.VERSION=$version" -o "$out/local-path-provisioner.tmp" "$pkg")
mv "$out/local-path-provisioner.tmp" "$out/local-path-provisioner"
