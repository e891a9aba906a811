//go:build envtest

package workerpool_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/testenv"
)

// networkPlaceholder in a seed stands for the fake cloud's network, made per fuzz worker.
const networkPlaceholder = "00000000-0000-4000-8000-00000000beef"

// FuzzWorkerPoolSpec sends fuzzed WorkerPool specs through the real apiserver and the
// running reconciler, beside a Ready TenantCluster "acme" and a fake cloud "openstack"
// (newWorld): refused with a message naming a field, or reconciled with no panic, no
// TerminalError, no InvalidSpec condition, settled, once settled reconciled no more often
// than its shortest poll (a server in BUILD is polled every BuildPollInterval, one that
// never becomes a Node every NodePollInterval: 5 s and 10 s in production, testBuildPoll
// and testNodePoll here), and deleted cleanly (servers and all). `make fuzz` explores for
// FUZZTIME.
func FuzzWorkerPoolSpec(f *testing.F) {
	seeds, err := testenv.SampleSpecs(filepath.Join("..", ".."), "WorkerPool")
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, fmt.Appendf(nil,
		`{"clusterName":"acme","replicas":1,"flavor":%q,"image":%q,"networkID":%q,"credentialsSecretRef":{"name":"openstack"}}`,
		flavorName, imageName, networkPlaceholder))
	for _, s := range seeds {
		f.Add(s)
	}
	gate := testenv.AddMutations(f, seeds)
	var w *world
	fz := &testenv.SpecFuzzer{
		Client: k8sClient, GVK: v1alpha1.GroupVersion.WithKind("WorkerPool"), Controller: "workerpool",
		Check: testenv.NoInvalidSpec(v1alpha1.ServersReadyCondition), MaxPerMinute: int(time.Minute/testBuildPoll) + 12,
	}
	f.Fuzz(func(t *testing.T, spec []byte) {
		gate(t, spec)
		if w == nil {
			w = newWorld(t) // one per fuzz worker: its namespace, tenant and cloud stay
		}
		fz.Namespace = w.ns
		fz.Run(t, bytes.ReplaceAll(spec, []byte(networkPlaceholder), []byte(w.network.ID)))
	})
}
