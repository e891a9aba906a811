#!/usr/bin/env bash
# Builds CoreDNS from the Go module proxy (a three-line main over coremain with the default
# plugin set) into $KUBESEED_CACHE/coredns/<version>/coredns, reused when present.
set -euo pipefail

# Must match CoreDNSVersion in pkg/seed/addons.go, which tags the seed's CoreDNS image.
version=v1.12.4
cache=${KUBESEED_CACHE:-$HOME/.cache/kubeseed}
out=$cache/coredns/$version
[ -x "$out/coredns" ] && exit 0

mod=$cache/src/coredns-$version
mkdir -p "$out" "$mod"
if [ ! -f "$mod/.ready" ]; then
  echo "coredns-bin: preparing tool module for CoreDNS $version in $mod" >&2
  printf 'module kubeseed.local/coredns\n\ngo 1.26\n\nrequire github.com/coredns/coredns %s\n' "$version" >"$mod/go.mod"
  # The module's own main (coredns.go) is package main at its root, which cannot be imported.
  cat >"$mod/main.go" <<'GO'
package main

import (
	_ "github.com/coredns/coredns/core/plugin" // the default plugins, as upstream's main
	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }
GO
  (cd "$mod" && go mod tidy)
  touch "$mod/.ready"
fi
echo "coredns-bin: building CoreDNS $version" >&2
(cd "$mod" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/coredns.tmp" .)
mv "$out/coredns.tmp" "$out/coredns"
