#!/usr/bin/env bash
# Builds the pod network's binaries from the Go module proxy, each into its own cache dir
# keyed by version and reused when present:
#   $KUBESEED_CACHE/flannel/<v>/flanneld
#   $KUBESEED_CACHE/kube-router/<v>/kube-router
#   $KUBESEED_CACHE/cni-plugins/<v>/{bridge,host-local,portmap,loopback}
#
# usage: hack/cni-bins.sh [FLANNEL KUBE_ROUTER CNI_PLUGINS]   e.g. v0.28.10 v2.1.0 v1.10.0
# Without arguments the versions are read from pkg/versions (the Makefile passes them).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
version() { (cd "$root" && go run ./hack/versions "$1"); }
flannel=${1:-$(version flannel)}
kuberouter=${2:-$(version kube-router)}
plugins=${3:-$(version cni-plugins)}
for v in "$flannel" "$kuberouter" "$plugins"; do
  [[ $v =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "cni-bins: version must look like vX.Y.Z, got $v" >&2; exit 2; }
done
cache=${KUBESEED_CACHE:-$HOME/.cache/kubeseed}

# flanneld. Upstream's main.go is package main at the module root, which cannot be imported,
# and it blank-imports every backend: tencentvpc's dependency is refused by the proxy and udp
# needs cgo. So the tool module builds a copy of upstream's main.go, taken from the module
# cache and patched here at build time to drop those imports (and the backends we do not
# run); only hostgw and vxlan stay. Nothing of upstream is stored in this repository.
out=$cache/flannel/$flannel
if [ ! -x "$out/flanneld" ]; then
  mod=$cache/src/flannel-$flannel
  mkdir -p "$out" "$mod"
  if [ ! -f "$mod/.ready" ]; then
    echo "cni-bins: preparing tool module for flannel $flannel in $mod" >&2
    printf 'module kubeseed.local/flannel\n\ngo 1.26\n\nrequire github.com/flannel-io/flannel %s\n' "$flannel" >"$mod/go.mod"
    dir=$(cd "$mod" && go mod download -json "github.com/flannel-io/flannel@$flannel" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -f "$dir/main.go" ] || { echo "cni-bins: no main.go in flannel's module dir '$dir'" >&2; exit 1; }
    grep -Ev '"github.com/flannel-io/flannel/pkg/backend/(tencentvpc|udp|ipsec|alloc|extension|ipip|wireguard)"' \
      "$dir/main.go" >"$mod/main.go"
    # The patch must leave the two backends we run and must have removed the refused one.
    grep -q 'pkg/backend/vxlan"' "$mod/main.go" && grep -q 'pkg/backend/hostgw"' "$mod/main.go" &&
      ! grep -q 'pkg/backend/tencentvpc"' "$mod/main.go" ||
      { echo "cni-bins: patching flannel's main.go did not give the expected backend imports" >&2; exit 1; }
    (cd "$mod" && go mod tidy)
    touch "$mod/.ready"
  fi
  echo "cni-bins: building flanneld $flannel" >&2
  (cd "$mod" && CGO_ENABLED=0 go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X github.com/flannel-io/flannel/pkg/version.Version=$flannel" -o "$out/flanneld.tmp" .)
  mv "$out/flanneld.tmp" "$out/flanneld"
fi

# kube-router: its cmd/kube-router is an importable package, named by a `tool` directive
# (as hack/local-path-bin.sh does) so that go mod tidy keeps its dependencies.
out=$cache/kube-router/$kuberouter
if [ ! -x "$out/kube-router" ]; then
  pkg=github.com/cloudnativelabs/kube-router/v2
  mod=$cache/src/kube-router-$kuberouter
  mkdir -p "$out" "$mod"
  if [ ! -f "$mod/.ready" ]; then
    echo "cni-bins: preparing tool module for kube-router $kuberouter in $mod" >&2
    printf 'module kubeseed.local/kube-router\n\ngo 1.26\n\ntool %s/cmd/kube-router\n\nrequire %s %s\n' "$pkg" "$pkg" "$kuberouter" >"$mod/go.mod"
    (cd "$mod" && go mod tidy)
    touch "$mod/.ready"
  fi
  echo "cni-bins: building kube-router $kuberouter" >&2
  # Upstream's Makefile injects these two; `kube-router --version` prints them.
  (cd "$mod" && CGO_ENABLED=0 go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X $pkg/pkg/version.Version=$kuberouter -X $pkg/pkg/version.BuildDate=kubeseed" \
    -o "$out/kube-router.tmp" "$pkg/cmd/kube-router")
  mv "$out/kube-router.tmp" "$out/kube-router"
fi

# The CNI plugins the conflist of kubeseed-cni names (bridge, host-local, portmap) and the
# loopback every runtime sets up.
out=$cache/cni-plugins/$plugins
names=(bridge host-local portmap loopback)
done=1
for n in "${names[@]}"; do [ -x "$out/$n" ] || done=0; done
if [ $done = 0 ]; then
  pkg=github.com/containernetworking/plugins
  pkgs=("$pkg/plugins/main/bridge" "$pkg/plugins/ipam/host-local" "$pkg/plugins/meta/portmap" "$pkg/plugins/main/loopback")
  mod=$cache/src/cni-plugins-$plugins
  mkdir -p "$out" "$mod"
  if [ ! -f "$mod/.ready" ]; then
    echo "cni-bins: preparing tool module for CNI plugins $plugins in $mod" >&2
    {
      printf 'module kubeseed.local/cni-plugins\n\ngo 1.26\n\n'
      for p in "${pkgs[@]}"; do printf 'tool %s\n' "$p"; done
      printf '\nrequire %s %s\n' "$pkg" "$plugins"
    } >"$mod/go.mod"
    (cd "$mod" && go mod tidy)
    touch "$mod/.ready"
  fi
  echo "cni-bins: building CNI plugins $plugins (${names[*]})" >&2
  # Built into a temporary dir and moved one by one, so a half-built set is never mistaken
  # for a complete one.
  rm -rf "$out/.tmp" && mkdir -p "$out/.tmp"
  (cd "$mod" && CGO_ENABLED=0 go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X $pkg/pkg/utils/buildversion.BuildVersion=$plugins" -o "$out/.tmp/" "${pkgs[@]}")
  for n in "${names[@]}"; do mv "$out/.tmp/$n" "$out/$n"; done
  rmdir "$out/.tmp"
fi
