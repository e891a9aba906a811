#!/usr/bin/env bash
# Builds etcd for one version from the Go module proxy (a three-line main over etcdmain)
# into $KUBESEED_CACHE/etcd/<version>/etcd, and etcdutl (snapshot status and restore: the
# backup drills use it) beside it; each reused when present.
#
# usage: hack/etcd-bin.sh <version>      e.g. v3.6.16
set -euo pipefail

version=${1:?usage: $0 v3.Y.Z}
[[ $version =~ ^v3\.[0-9]+\.[0-9]+$ ]] || { echo "etcd-bin: version must look like v3.Y.Z, got $version" >&2; exit 2; }
cache=${KUBESEED_CACHE:-$HOME/.cache/kubeseed}
out=$cache/etcd/$version
[ -x "$out/etcd" ] && [ -x "$out/etcdutl" ] && exit 0

mod=$cache/src/etcd-$version
mkdir -p "$out" "$mod"
if [ ! -f "$mod/.ready-etcdutl" ]; then
  echo "etcd-bin: preparing tool module for etcd $version in $mod" >&2
  printf 'module kubeseed.local/etcd\n\ngo 1.26\n\nrequire (\n\tgo.etcd.io/etcd/server/v3 %s\n\tgo.etcd.io/etcd/etcdutl/v3 %s\n)\n' "$version" "$version" >"$mod/go.mod"
  cat >"$mod/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  # etcdutl's main package is its module's root; the blank import keeps it in go.mod.
  printf 'package main\n\nimport _ "go.etcd.io/etcd/etcdutl/v3/etcdutl"\n' >"$mod/etcdutl.go"
  (cd "$mod" && go mod tidy)
  touch "$mod/.ready-etcdutl"
fi
if [ ! -x "$out/etcd" ]; then
  echo "etcd-bin: building etcd $version" >&2
  (cd "$mod" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" .)
  mv "$out/etcd.tmp" "$out/etcd"
fi
echo "etcd-bin: building etcdutl $version" >&2
(cd "$mod" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcdutl.tmp" go.etcd.io/etcd/etcdutl/v3)
mv "$out/etcdutl.tmp" "$out/etcdutl"
