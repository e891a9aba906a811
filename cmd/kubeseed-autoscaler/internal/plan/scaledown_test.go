package plan

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

func TestScaleDown(t *testing.T) {
	a := pool("a", 3, 1, 5)
	// a-1 runs one small pod (10% cpu); a-2 and a-3 are busy (70% cpu) but have room for it.
	nodes := func(mutate1 ...func(*corev1.Node)) []*corev1.Node {
		return []*corev1.Node{node("a-1", a, "4", "8Gi", mutate1...), node("a-2", a, "4", "8Gi"), node("a-3", a, "4", "8Gi")}
	}
	busy := []*corev1.Pod{pod("web-2", "a-2", "2800m", "2Gi"), pod("web-3", "a-3", "2800m", "2Gi")}
	with := func(p ...*corev1.Pod) []*corev1.Pod { return append(append([]*corev1.Pod(nil), busy...), p...) }
	small := func(mutate ...func(*corev1.Pod)) *corev1.Pod { return pod("small", "a-1", "400m", "512Mi", mutate...) }
	unneededA1 := func(since string) map[string]string {
		return map[string]string{"a-1": "utilisation 10% (cpu) under 50% since " + since + "; its 1 pod fits on a-2"}
	}
	seen := func(d time.Duration) Memory { return Memory{UnneededSince: map[string]time.Time{"a-1": now.Add(-d)}} }
	notRemovable := func(why string) []string {
		return []string{"node a-1 (utilisation 10% cpu) is not removable: " + why}
	}
	firstSeen := []string{"node a-1 is unneeded since 10:30:00 UTC, removable from 10:40:00 UTC (scale-down-unneeded-time 10m0s)"}

	tests := []struct {
		name     string
		cfg      func(*Config)
		pools    []Pool
		nodes    []*corev1.Node
		pods     []*corev1.Pod
		pdbs     []*policyv1.PodDisruptionBudget
		memory   Memory
		want     *ScaleDown
		unneeded map[string]string
		held     []string
		since    map[string]time.Time
	}{{
		name: "first seen unneeded: remembered, not removed", nodes: nodes(), pods: with(small()),
		unneeded: unneededA1("10:30:00 UTC"), held: firstSeen, since: map[string]time.Time{"a-1": now},
	}, {
		name: "unneeded for scale-down-unneeded-time: removed", nodes: nodes(), pods: with(small()), memory: seen(10 * time.Minute),
		want:     &ScaleDown{Pool: "a", Node: "a-1", From: 3, To: 2, Reason: "utilisation 10% (cpu) under 50% since 10:20:00 UTC; its 1 pod fits on a-2"},
		unneeded: unneededA1("10:20:00 UTC"), since: map[string]time.Time{"a-1": now.Add(-10 * time.Minute)},
	}, {
		name: "a time of another day is written in full", nodes: nodes(), pods: with(small()), memory: seen(25 * time.Hour),
		want:     &ScaleDown{Pool: "a", Node: "a-1", From: 3, To: 2, Reason: "utilisation 10% (cpu) under 50% since 2026-03-13T09:30:00Z; its 1 pod fits on a-2"},
		unneeded: unneededA1("2026-03-13T09:30:00Z"), since: map[string]time.Time{"a-1": now.Add(-25 * time.Hour)},
	}, {
		name: "a node that no longer qualifies is forgotten", nodes: nodes(), pods: with(small()),
		memory:   Memory{UnneededSince: map[string]time.Time{"a-1": now.Add(-time.Minute), "a-2": now.Add(-time.Hour), "gone": now.Add(-time.Hour)}},
		unneeded: unneededA1("10:29:00 UTC"), since: map[string]time.Time{"a-1": now.Add(-time.Minute)},
		held: []string{"node a-1 is unneeded since 10:29:00 UTC, removable from 10:39:00 UTC (scale-down-unneeded-time 10m0s)"},
	}, {
		name: "never below min", pools: []Pool{pool("a", 1, 1, 5)}, nodes: nodes()[:1], pods: []*corev1.Pod{small()}, memory: seen(time.Hour),
		held: notRemovable("pool a is at its min size 1"),
	}, {
		name: "min stops the second unneeded node", pools: []Pool{pool("a", 3, 2, 5)}, nodes: nodes(),
		pods:     []*corev1.Pod{small(), pod("mid", "a-2", "800m", "1Gi"), pod("web-3", "a-3", "2800m", "2Gi")},
		unneeded: map[string]string{"a-1": "utilisation 10% (cpu) under 50% since 10:30:00 UTC; its 1 pod fits on a-3"},
		held: []string{"node a-2 (utilisation 20% cpu) is not removable: pool a would drop below its min size 2 (3 replicas, 1 node already unneeded)",
			firstSeen[0]},
		since: map[string]time.Time{"a-1": now},
	}, {
		name: "blocker: safe-to-evict=false", nodes: nodes(), pods: with(small(podAnnotated(SafeToEvictAnnotation, "false"))), memory: seen(time.Hour),
		held: notRemovable("pod default/small is annotated cluster-autoscaler.kubernetes.io/safe-to-evict=false"),
	}, {
		name: "blocker: a bare pod", nodes: nodes(), pods: with(small(bare)), memory: seen(time.Hour),
		held: notRemovable("pod default/small has no controller to recreate it (annotate it cluster-autoscaler.kubernetes.io/safe-to-evict=true to allow)"),
	}, {
		name: "a bare pod annotated safe-to-evict=true moves", nodes: nodes(), pods: with(small(bare, podAnnotated(SafeToEvictAnnotation, "true"))), memory: seen(10 * time.Minute),
		want:     &ScaleDown{Pool: "a", Node: "a-1", From: 3, To: 2, Reason: "utilisation 10% (cpu) under 50% since 10:20:00 UTC; its 1 pod fits on a-2"},
		unneeded: unneededA1("10:20:00 UTC"), since: map[string]time.Time{"a-1": now.Add(-10 * time.Minute)},
	}, {
		name: "blocker: a kube-system pod without PDB", nodes: nodes(), pods: with(small(inNamespace("kube-system"))), memory: seen(time.Hour),
		held: notRemovable("pod kube-system/small is in kube-system and no PodDisruptionBudget covers it"),
	}, {
		name: "a kube-system pod with a PDB allowing it moves", nodes: nodes(), pods: with(small(inNamespace("kube-system"))),
		pdbs: []*policyv1.PodDisruptionBudget{pdb("kube-system", "small-pdb", "small", 1)}, memory: seen(10 * time.Minute),
		want:     &ScaleDown{Pool: "a", Node: "a-1", From: 3, To: 2, Reason: "utilisation 10% (cpu) under 50% since 10:20:00 UTC; its 1 pod fits on a-2"},
		unneeded: unneededA1("10:20:00 UTC"), since: map[string]time.Time{"a-1": now.Add(-10 * time.Minute)},
	}, {
		name: "blocker: PDB with no disruption allowed", nodes: nodes(), pods: with(small()),
		pdbs: []*policyv1.PodDisruptionBudget{pdb("default", "small-pdb", "small", 0)}, memory: seen(time.Hour),
		held: notRemovable("PodDisruptionBudget default/small-pdb allows 0 disruptions and the node runs 1 of its pods"),
	}, {
		name: "blocker: PDB allowing fewer disruptions than the node has pods", nodes: nodes(),
		pods: with(pod("x1", "a-1", "200m", "256Mi", func(p *corev1.Pod) { p.Labels["app"] = "x" }),
			pod("x2", "a-1", "200m", "256Mi", func(p *corev1.Pod) { p.Labels["app"] = "x" })),
		pdbs: []*policyv1.PodDisruptionBudget{pdb("default", "x", "x", 1), pdb("other", "x", "x", 0)}, memory: seen(time.Hour),
		held: notRemovable("PodDisruptionBudget default/x allows 1 disruption and the node runs 2 of its pods"),
	}, {
		name: "blocker: a pod that fits on no other node", nodes: nodes(), pods: with(pod("big", "a-1", "1500m", "512Mi")), memory: seen(time.Hour),
		held: []string{"node a-1 (utilisation 37% cpu) is not removable: pod default/big fits on no other node: Insufficient cpu"},
	}, {
		name: "blocker: scale-down-disabled annotation", nodes: nodes(annotated(ScaleDownDisabledAnnotation, "true")), pods: with(small()), memory: seen(time.Hour),
		held: notRemovable("it is annotated cluster-autoscaler.kubernetes.io/scale-down-disabled=true"),
	}, {
		name: "cool-down after a scale-up: tracked, not removed", nodes: nodes(), pods: with(small()),
		memory:   Memory{UnneededSince: map[string]time.Time{"a-1": now.Add(-20 * time.Minute)}, LastScaleUp: now.Add(-5 * time.Minute)},
		unneeded: unneededA1("10:10:00 UTC"), since: map[string]time.Time{"a-1": now.Add(-20 * time.Minute)},
		held: []string{"no scale-down until 10:35:00 UTC: last scale-up at 10:25:00 UTC (scale-down-delay-after-add 10m0s)"},
	}, {
		name: "cool-down after a scale-up over", nodes: nodes(), pods: with(small()),
		memory:   Memory{UnneededSince: map[string]time.Time{"a-1": now.Add(-20 * time.Minute)}, LastScaleUp: now.Add(-10 * time.Minute)},
		want:     &ScaleDown{Pool: "a", Node: "a-1", From: 3, To: 2, Reason: "utilisation 10% (cpu) under 50% since 10:10:00 UTC; its 1 pod fits on a-2"},
		unneeded: unneededA1("10:10:00 UTC"), since: map[string]time.Time{"a-1": now.Add(-20 * time.Minute)},
	}, {
		name: "cool-down after a scale-down", cfg: func(c *Config) { c.ScaleDownDelayAfterDelete = 5 * time.Minute },
		nodes: nodes(), pods: with(small()),
		memory:   Memory{UnneededSince: map[string]time.Time{"a-1": now.Add(-20 * time.Minute)}, LastScaleDown: now.Add(-2 * time.Minute)},
		unneeded: unneededA1("10:10:00 UTC"), since: map[string]time.Time{"a-1": now.Add(-20 * time.Minute)},
		held: []string{"no scale-down until 10:33:00 UTC: last scale-down at 10:28:00 UTC (scale-down-delay-after-delete 5m0s)"},
	}, {
		name: "no scale-down in a pass that scales up", nodes: nodes(), pods: with(small(), pod("huge", "", "3900m", "1Gi")), memory: seen(time.Hour),
		unneeded: unneededA1("09:30:00 UTC"), since: map[string]time.Time{"a-1": now.Add(-time.Hour)},
		held: []string{"no scale-down while scaling up pool a 3→4"},
	}, {
		name: "no scale-down while nodes are coming", pools: []Pool{pool("a", 4, 1, 5)}, nodes: nodes(), pods: with(small()), memory: seen(time.Hour),
		unneeded: unneededA1("09:30:00 UTC"), since: map[string]time.Time{"a-1": now.Add(-time.Hour)},
		held: []string{"no scale-down while pool a waits for 1 node to join (4 replicas, 3 usable)"},
	}, {
		// A fixed pool's server that never joins must not stop every scale-down.
		name: "a fixed pool's coming node does not hold", pools: []Pool{a, pool("f", 1, 0, 0, notAutoscaled)}, nodes: nodes(), pods: with(small()), memory: seen(time.Hour),
		want:     &ScaleDown{Pool: "a", Node: "a-1", From: 3, To: 2, Reason: "utilisation 10% (cpu) under 50% since 09:30:00 UTC; its 1 pod fits on a-2"},
		unneeded: unneededA1("09:30:00 UTC"), since: map[string]time.Time{"a-1": now.Add(-time.Hour)},
	}, {
		name: "no scale-down while the pool controller removes nodes", pools: []Pool{pool("a", 2, 1, 5)}, nodes: nodes(), pods: with(small()), memory: seen(time.Hour),
		held: notRemovable("pool a has 3 nodes for 2 replicas: waiting for the WorkerPool controller to remove 1 node"),
	}, {
		name: "leaving nodes are neither candidates nor destinations", pools: []Pool{pool("a", 2, 1, 5)},
		nodes: []*corev1.Node{node("a-0", a, "4", "8Gi", annotated(DeleteMachineAnnotation, "autoscaler")), node("a-1", a, "4", "8Gi"), node("a-2", a, "4", "8Gi")},
		pods:  []*corev1.Pod{small(), pod("web-2", "a-2", "3900m", "1Gi")}, memory: seen(time.Hour),
		held: append([]string{"no scale-down while 1 node (a-0) is being removed"}, notRemovable("pod default/small fits on no other node: Insufficient cpu")...),
	}, {
		// A person's drain: the Node is no room for pods, and no capacity on its way either.
		name: "a cordoned node is not a node coming", pools: []Pool{pool("a", 2, 1, 5)},
		nodes: []*corev1.Node{node("a-0", a, "4", "8Gi", func(n *corev1.Node) { n.Spec.Unschedulable = true }), node("a-1", a, "4", "8Gi")},
		pods:  []*corev1.Pod{small(), pod("web-0", "a-0", "3900m", "1Gi")}, memory: seen(time.Hour),
		held: notRemovable("pod default/small fits on no other node: no nodes available to schedule pods"),
	}, {
		// delete-machine on a Node of a pool that is not shrinking only ranks it first.
		name: "an annotated node of a pool at its size stays", pools: []Pool{pool("a", 2, 1, 5)},
		nodes: []*corev1.Node{node("a-0", a, "4", "8Gi", annotated(DeleteMachineAnnotation, "true")), node("a-1", a, "4", "8Gi")},
		pods:  []*corev1.Pod{small(), pod("web-0", "a-0", "3900m", "1Gi")}, memory: seen(time.Hour),
		held: notRemovable("pod default/small fits on no other node: Insufficient cpu"),
	}, {
		name: "a pod with required anti-affinity pins its node", nodes: nodes(), memory: seen(time.Hour),
		pods: with(small(func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: corev1.LabelHostname}}}}
		})),
		held: notRemovable("pod default/small has required pod anti-affinity, which the simulation cannot place (annotate it cluster-autoscaler.kubernetes.io/safe-to-evict=true to allow)"),
	}, {
		name:  "nodes of a pool without autoscaling are never candidates",
		pools: []Pool{pool("fixed", 2, 0, 0, notAutoscaled)},
		nodes: []*corev1.Node{node("f-1", pool("fixed", 2, 0, 0), "4", "8Gi"), node("f-2", pool("fixed", 2, 0, 0), "4", "8Gi")},
	}, {
		name: "memory can be the utilisation that counts", nodes: nodes(), pods: with(pod("cache", "a-1", "400m", "3Gi")),
		unneeded: map[string]string{"a-1": "utilisation 37% (memory) under 50% since 10:30:00 UTC; its 1 pod fits on a-2"},
		held:     firstSeen, since: map[string]time.Time{"a-1": now},
	}, {
		name: "utilisation at the threshold is not under it", nodes: nodes(), pods: with(pod("half", "a-1", "2", "512Mi")),
	}, {
		name: "DaemonSet and mirror pods neither count nor move", nodes: nodes(),
		pods:     with(pod("agent", "a-1", "3", "1Gi", ownedByDaemonSet), pod("static", "a-1", "500m", "1Gi", podAnnotated(MirrorPodAnnotation, "x"), bare)),
		unneeded: map[string]string{"a-1": "utilisation 0% (cpu) under 50% since 10:30:00 UTC; it runs no pods that would have to move"},
		held:     firstSeen, since: map[string]time.Time{"a-1": now},
	}, {
		name: "the least utilised goes first; pods of both fit on the busy nodes", pools: []Pool{pool("a", 4, 1, 5)},
		nodes:  append(nodes(), node("a-4", a, "4", "8Gi")),
		pods:   []*corev1.Pod{pod("mid", "a-1", "800m", "1Gi"), small(func(p *corev1.Pod) { p.Spec.NodeName = "a-2" }), pod("web-3", "a-3", "2800m", "2Gi"), pod("web-4", "a-4", "2800m", "2Gi")},
		memory: Memory{UnneededSince: map[string]time.Time{"a-1": now.Add(-time.Hour), "a-2": now.Add(-time.Hour)}},
		want:   &ScaleDown{Pool: "a", Node: "a-2", From: 4, To: 3, Reason: "utilisation 10% (cpu) under 50% since 09:30:00 UTC; its 1 pod fits on a-3"},
		unneeded: map[string]string{
			"a-2": "utilisation 10% (cpu) under 50% since 09:30:00 UTC; its 1 pod fits on a-3",
			"a-1": "utilisation 20% (cpu) under 50% since 09:30:00 UTC; its 1 pod fits on a-3",
		},
		since: map[string]time.Time{"a-1": now.Add(-time.Hour), "a-2": now.Add(-time.Hour)},
	}, {
		name: "a node that would take the pods of an unneeded node stays", pools: []Pool{pool("a", 2, 1, 5)},
		nodes: nodes()[:2], pods: []*corev1.Pod{small(), pod("mid", "a-2", "1200m", "1Gi")},
		unneeded: map[string]string{"a-1": "utilisation 10% (cpu) under 50% since 10:30:00 UTC; its 1 pod fits on a-2"},
		held:     []string{"node a-2 (utilisation 30% cpu) is not removable: it would take pods of unneeded node a-1", firstSeen[0]},
		since:    map[string]time.Time{"a-1": now},
	}, {
		name: "several pods are counted and their destinations listed", nodes: nodes(),
		pods:     with(pod("s1", "a-1", "600m", "256Mi"), pod("s2", "a-1", "600m", "256Mi"), pod("s3", "a-1", "200m", "256Mi")),
		unneeded: map[string]string{"a-1": "utilisation 35% (cpu) under 50% since 10:30:00 UTC; its 3 pods fit on other nodes (a-2, a-3)"},
		held:     firstSeen, since: map[string]time.Time{"a-1": now},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			pools := tt.pools
			if pools == nil {
				pools = []Pool{a}
			}
			res := Plan(cfg, Input{Now: now, Pools: pools, Nodes: tt.nodes, Pods: tt.pods, PDBs: tt.pdbs, Memory: tt.memory})
			if !reflect.DeepEqual(res.ScaleDown, tt.want) {
				t.Errorf("ScaleDown = %+v\nwant        %+v", res.ScaleDown, tt.want)
			}
			if tt.unneeded == nil {
				tt.unneeded = map[string]string{}
			}
			if !reflect.DeepEqual(res.Unneeded, tt.unneeded) {
				t.Errorf("Unneeded = %q\nwant       %q", res.Unneeded, tt.unneeded)
			}
			if !reflect.DeepEqual(res.Held, tt.held) {
				t.Errorf("Held = %q\nwant   %q", res.Held, tt.held)
			}
			if tt.since == nil {
				tt.since = map[string]time.Time{}
			}
			if !reflect.DeepEqual(res.Memory.UnneededSince, tt.since) {
				t.Errorf("UnneededSince = %v\nwant            %v", res.Memory.UnneededSince, tt.since)
			}
			if wantLast := tt.memory.LastScaleDown; tt.want != nil {
				wantLast = now
				if !res.Memory.LastScaleDown.Equal(wantLast) {
					t.Errorf("LastScaleDown = %v, want %v", res.Memory.LastScaleDown, wantLast)
				}
			} else if !res.Memory.LastScaleDown.Equal(wantLast) {
				t.Errorf("LastScaleDown = %v, want it kept at %v", res.Memory.LastScaleDown, wantLast)
			}
		})
	}
}
