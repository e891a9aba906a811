// Package certmanager embeds upstream cert-manager's Helm chart: deploy/charts/cert-manager
// of the module github.com/cert-manager/cert-manager at Version, unchanged but for the
// version fields of Chart.yaml (upstream's release tool fills them in) and two lines of
// .helmignore. `kubeseed seed bootstrap` renders it the way upstream renders the static
// cert-manager.yaml of a release, so a seed it installs runs upstream's images by name
// (quay.io/jetstack/cert-manager-{controller,webhook,cainjector}:Version).
//
// To move to another cert-manager release, bump the module in go.mod (and
// hack/cert-manager/go.mod, which the local seed builds), copy the module's
// deploy/charts/cert-manager here again and set Version: the test says what differs.
package certmanager

import (
	"embed"
	"io/fs"
)

// Version is the cert-manager release of the embedded chart (its appVersion): the image tag
// every component runs.
const Version = "v1.21.2"

// The all: prefix keeps templates/_helpers.tpl (golang/go#44393).
//
//go:embed Chart.yaml values.yaml values.schema.json .helmignore all:templates
var files embed.FS

// Chart is the chart, rooted at its Chart.yaml, for pkg/render.LoadChart.
var Chart fs.FS = files
