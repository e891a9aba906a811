package addons

import "github.com/kubeseed/kubeseed/pkg/versions"

// The pod network's images under their upstream names, at the versions this release pins
// (the local seed builds them under these names, hack/seed). With Inputs.ImageRegistry set,
// the registry replaces the host and the path stays: <registry>/flannel-io/flannel:<tag>.
const (
	flannelHost, flannelRepo       = "ghcr.io", "flannel-io/flannel"
	kubeRouterHost, kubeRouterRepo = "docker.io", "cloudnativelabs/kube-router"

	// FlannelImage runs flanneld (at /opt/bin/flanneld, as upstream's image).
	FlannelImage = flannelHost + "/" + flannelRepo + ":" + versions.Flannel
	// KubeRouterImage runs kube-router's NetworkPolicy controller.
	KubeRouterImage = kubeRouterHost + "/" + kubeRouterRepo + ":" + versions.KubeRouter
	cniRepo         = "kubeseed/cni"
)

// CNIImage is kubeseed's own: `kubeseed-cni` and the CNI plugins it installs on nodes
// (cmd/kubeseed-cni; hack/seed builds the image for the local seed and its machines),
// tagged with the release like the tunnel's, under the registry when one is set.
var CNIImage = cniRepo + ":" + versions.Kubeseed
