package plan

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// BenchmarkPlan is the load the loop puts on Plan every scan-interval: 100 pending pods,
// three pools, 30 nodes with 10 pods each, two DaemonSets.
func BenchmarkPlan(b *testing.B) {
	var in Input
	in.Now = now
	in.DaemonSets = []*appsv1.DaemonSet{daemonSet("cni", "100m", "64Mi"), daemonSet("logs", "50m", "128Mi")}
	for i, name := range []string{"a", "b", "c"} {
		p := pool(name, 10, 1, 50, allocatable("4", "16Gi"))
		in.Pools = append(in.Pools, p)
		for j := range 10 {
			n := node(fmt.Sprintf("%s-%d", name, j), p, "4", "16Gi")
			in.Nodes = append(in.Nodes, n)
			for k := range 10 {
				in.Pods = append(in.Pods, pod(fmt.Sprintf("%s-%d-%d", name, j, k), n.Name, fmt.Sprintf("%dm", 100+30*i), "1Gi"))
			}
		}
	}
	for i := range 100 {
		in.Pods = append(in.Pods, pod(fmt.Sprintf("pending-%d", i), "", fmt.Sprintf("%dm", 500+10*i), "2Gi"))
	}
	var res Result
	for b.Loop() {
		res = Plan(DefaultConfig(), in)
	}
	// What a tenant pays for the planner: CPU at the default scan interval of 10 s, and
	// the live heap of one snapshot and its result (the informers hold the same objects).
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(10*time.Second)*1000, "mCPU@10s")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
	runtime.KeepAlive(in)
	if res.ScaleUp == nil {
		b.Fatal("expected a scale-up")
	}
	b.ReportMetric(float64(len(res.ScaleUp.Pods)), "pods-helped")
	b.ReportMetric(float64(len(res.WillFit)), "pods-willfit")
	b.ReportMetric(float64(res.ScaleUp.To-res.ScaleUp.From), "nodes-added")
}
