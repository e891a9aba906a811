#!/usr/bin/env bash
# Builds Kubernetes components for one version from the Go module proxy, offline of any
# registry: a throwaway tool module requires k8s.io/kubernetes and replaces every staging
# module (the "=> ./staging/..." lines of that version's go.mod) with its published v0.X.Y.
# Binaries land in $KUBESEED_CACHE/k8s/<version>/ and are reused when present.
#
# usage: hack/k8s-bins.sh <version> [component...]
#   components: kube-apiserver kube-controller-manager kube-scheduler kubelet kubeadm kube-proxy kubectl
set -euo pipefail

version=${1:?usage: $0 vX.Y.Z [component...]}
shift
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "k8s-bins: version must look like v1.Y.Z, got $version" >&2; exit 2; }
minor=${BASH_REMATCH[1]}
all=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubeadm kube-proxy kubectl)
components=("$@")
[ ${#components[@]} -gt 0 ] || components=("${all[@]}")

cache=${KUBESEED_CACHE:-$HOME/.cache/kubeseed}
out=$cache/k8s/$version
mod=$cache/src/k8s-$version
mkdir -p "$out" "$mod"

missing=()
for c in "${components[@]}"; do
  [ -x "$out/$c" ] || missing+=("$c")
done
[ ${#missing[@]} -gt 0 ] || exit 0

# tools.go imports every component, so one `go mod tidy` resolves them all; the module is
# prepared again whenever that list changes.
tools=$(
  printf '//go:build tools\n\npackage tools\n\nimport (\n'
  for c in "${all[@]}"; do
    printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"
  done
  printf ')\n'
)
if [ ! -f "$mod/.ready" ] || [ "$(cat "$mod/tools.go" 2>/dev/null)" != "$tools" ]; then
  echo "k8s-bins: preparing tool module for $version in $mod" >&2
  rm -f "$mod/.ready"
  upstream=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [ -n "$upstream" ] || { echo "k8s-bins: cannot download k8s.io/kubernetes@$version" >&2; exit 1; }
  {
    echo "module kubeseed.local/k8s-tools"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $version"
    echo
    # Every staging module becomes its published twin, at the same patch as the release.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 v0.'"$minor"'.'"${version##*.}"'#p' "$upstream"
  } >"$mod/go.mod"
  printf '%s\n' "$tools" >"$mod/tools.go"
  (cd "$mod" && go mod tidy)
  touch "$mod/.ready"
fi

# Without these the binaries report v0.0.0-master and kubeadm refuses to join.
pkgs=(k8s.io/component-base/version k8s.io/client-go/pkg/version)
ldflags="-s -w"
for p in "${pkgs[@]}"; do
  ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=2000-01-01T00:00:00Z"
done

# One go build for all missing components shares compilation and links them in parallel.
echo "k8s-bins: building ${missing[*]} $version" >&2
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pkgs=()
for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
(cd "$mod" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}")
for c in "${missing[@]}"; do mv "$tmp/$c" "$out/$c"; done
