//go:build e2e

// Package e2e holds the end-to-end tests: they run against a real seed cluster with real
// pods (the local seed of e2e/seed), nothing mocked. Run them with `make test-e2e`.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeseed/kubeseed/e2e/seed"
)

var (
	provider   seed.Provider
	restConfig *rest.Config
	clients    *kubernetes.Clientset
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	cache := seed.CacheDir()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	provider = seed.New(cache, logf)
	// make test-e2e brings the seed up first; Up again checks it is whole (and that a second
	// Up is harmless).
	if err := provider.Up(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: seed up: %v\n", err)
		return 1
	}
	var err error
	restConfig, err = clientcmd.BuildConfigFromFlags("", provider.Kubeconfig())
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: seed kubeconfig: %v\n", err)
		return 1
	}
	clients, err = kubernetes.NewForConfig(restConfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: seed client: %v\n", err)
		return 1
	}
	return m.Run()
}
