#!/usr/bin/env bash
# Builds our cert-manager controller (hack/cert-manager: the real controllers behind a small
# main, since upstream's cmd/controller is not a published module) into
# $KUBESEED_CACHE/cert-manager/<version>/cert-manager-controller, and copies the module's
# CRDs next to it in crds/. Reused when present and built from the same sources.
set -euo pipefail

# The version is pinned by hack/cert-manager/go.mod (github.com/cert-manager/cert-manager).
src=$(cd "$(dirname "$0")/cert-manager" && pwd)
version=$(sed -n 's#^[[:space:]]*github.com/cert-manager/cert-manager \(v[^ ]*\).*#\1#p' "$src/go.mod")
[ -n "$version" ] || { echo "cert-manager-bin: no cert-manager version in $src/go.mod" >&2; exit 1; }
cache=${KUBESEED_CACHE:-$HOME/.cache/kubeseed}
out=$cache/cert-manager/$version
# A change to main.go rebuilds even when the version stays.
stamp=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum)
[ -x "$out/cert-manager-controller" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] && exit 0

mkdir -p "$out"
echo "cert-manager-bin: building cert-manager-controller $version" >&2
(cd "$src" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$out/cert-manager-controller.tmp" .)
mv "$out/cert-manager-controller.tmp" "$out/cert-manager-controller"

# deploy/crds holds plain YAML; the chart's templates/crd-*.yaml are the same CRDs wrapped
# in Helm markers. ACME CRDs are skipped: no ACME controller runs.
dir=$(cd "$src" && go list -m -f '{{.Dir}}' github.com/cert-manager/cert-manager)
echo "cert-manager-bin: copying CRDs from $dir/deploy/crds" >&2
rm -rf "$out/crds" && mkdir -p "$out/crds"
cp "$dir"/deploy/crds/cert-manager.io_*.yaml "$out/crds/"
chmod u+w "$out"/crds/*.yaml
! grep -l '{{' "$out"/crds/*.yaml >&2 || { echo "cert-manager-bin: template markers in CRDs" >&2; exit 1; }
printf '%s\n' "$stamp" >"$out/.stamp"
