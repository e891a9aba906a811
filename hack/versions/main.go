// Command versions prints the versions declared in pkg/versions, so the Makefile and scripts
// read them from the one place they are declared.
//
//	go run ./hack/versions supported|default|seed|envtest|etcd|flannel|kube-router|cni-plugins
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/kubeseed/kubeseed/pkg/versions"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: versions supported|default|seed|envtest|etcd|flannel|kube-router|cni-plugins")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "supported":
		fmt.Println(strings.Join(versions.Supported, " "))
	case "default":
		fmt.Println(versions.Default)
	case "seed":
		fmt.Println(versions.Seed)
	case "envtest":
		fmt.Println(versions.Envtest)
	case "etcd":
		fmt.Println(versions.Etcd)
	case "flannel":
		fmt.Println(versions.Flannel)
	case "kube-router":
		fmt.Println(versions.KubeRouter)
	case "cni-plugins":
		fmt.Println(versions.CNIPlugins)
	default:
		fmt.Fprintf(os.Stderr, "versions: unknown key %q\n", os.Args[1])
		os.Exit(2)
	}
}
