package bootstrap

import (
	"errors"
	"fmt"
	"maps"
	"math/big"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// Reserved is what the kubelet of one node keeps back from pods: its kubeReserved,
// systemReserved and evictionHard settings. Node allocatable is the capacity less all
// three (Allocatable).
type Reserved struct {
	// KubeReserved is for the kubelet and the container runtime.
	KubeReserved corev1.ResourceList
	// SystemReserved is for the operating system's daemons (sshd, journald, cloud-init).
	SystemReserved corev1.ResourceList
	// EvictionHard maps eviction signals to thresholds, "100Mi" or "10%". It always holds
	// every signal the kubelet defaults: given a partial map, the kubelet sets the signals
	// left out to zero, turning their eviction off.
	EvictionHard map[string]string
}

// The tiers of kube-reserved, GKE's: each share applies to the part of the capacity that
// falls in its tier. Shares are in basis points (1/100 of a percent).
var (
	cpuTiers = []tier{ // in millicores
		{upTo: 1000, basisPoints: 600}, // 6% of the first core
		{upTo: 2000, basisPoints: 100}, // 1% of the second
		{upTo: 4000, basisPoints: 50},  // 0.5% of the third and fourth
		{upTo: 0, basisPoints: 25},     // 0.25% of every core above four
	}
	memoryTiers = []tier{ // in bytes
		{upTo: 4 << 30, basisPoints: 2500},  // 25% of the first 4 GiB
		{upTo: 8 << 30, basisPoints: 2000},  // 20% of the next 4 GiB
		{upTo: 16 << 30, basisPoints: 1000}, // 10% of the next 8 GiB
		{upTo: 128 << 30, basisPoints: 600}, // 6% of the next 112 GiB
		{upTo: 0, basisPoints: 200},         // 2% of everything above 128 GiB
	}
)

// tier is a share of the capacity up to upTo (cumulative; 0 means no bound).
type tier struct{ upTo, basisPoints int64 }

// Fixed system-reserved: an idle Ubuntu cloud image's systemd, journald, sshd, networkd
// and cloud-init take about this much, whatever the flavor.
var (
	systemReservedCPU    = resource.MustParse("100m")
	systemReservedMemory = resource.MustParse("200Mi")
)

// defaultEvictionHard is the kubelet's own default on Linux.
var defaultEvictionHard = map[string]string{
	"memory.available":   "100Mi",
	"nodefs.available":   "10%",
	"nodefs.inodesFree":  "5%",
	"imagefs.available":  "15%",
	"imagefs.inodesFree": "5%",
}

// evictionSignal is the hard-eviction signal that keeps a share of a resource free, and so
// out of allocatable.
var evictionSignal = map[corev1.ResourceName]string{
	corev1.ResourceMemory:           "memory.available",
	corev1.ResourceEphemeralStorage: "nodefs.available",
}

var percentage = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?)%$`)

// Reservations computes the reservations of a node with cpu and memory capacity (a Nova
// flavor's vCPUs and RAM), as docs/workers.md describes: kube-reserved by GKE's tiers,
// system-reserved fixed, eviction-hard the kubelet's defaults. Every key set in overrides
// (a WorkerPool's spec.kubelet) replaces the computed value of that key alone.
func Reservations(cpu, memory resource.Quantity, overrides v1alpha1.KubeletSpec) (Reserved, error) {
	if cpu.Sign() <= 0 || memory.Sign() <= 0 {
		return Reserved{}, fmt.Errorf("kubelet reservations: capacity cpu %s and memory %s must be positive", cpu.String(), memory.String())
	}
	r := Reserved{
		KubeReserved: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(tiered(cpu.MilliValue(), cpuTiers, 1), resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(tiered(memory.Value(), memoryTiers, 1<<20), resource.BinarySI),
		},
		SystemReserved: corev1.ResourceList{
			corev1.ResourceCPU:    systemReservedCPU.DeepCopy(),
			corev1.ResourceMemory: systemReservedMemory.DeepCopy(),
		},
		EvictionHard: maps.Clone(defaultEvictionHard),
	}
	var errs []error
	errs = append(errs, override(r.KubeReserved, overrides.KubeReserved, "kubeReserved"))
	errs = append(errs, override(r.SystemReserved, overrides.SystemReserved, "systemReserved"))
	for _, signal := range slices.Sorted(maps.Keys(overrides.EvictionHard)) {
		value := string(overrides.EvictionHard[signal])
		if _, err := evictionAmount(value, resource.Quantity{}); err != nil {
			errs = append(errs, fmt.Errorf("evictionHard[%s]: %w", signal, err))
			continue
		}
		r.EvictionHard[signal] = value
	}
	if err := errors.Join(errs...); err != nil {
		return Reserved{}, fmt.Errorf("kubelet reservations: %w", err)
	}
	return r, nil
}

func override(into corev1.ResourceList, from map[string]resource.Quantity, field string) error {
	for _, name := range slices.Sorted(maps.Keys(from)) {
		q := from[name]
		if q.Sign() < 0 {
			return fmt.Errorf("%s[%s]: %s is negative", field, name, q.String())
		}
		into[corev1.ResourceName(name)] = q.DeepCopy()
	}
	return nil
}

// tiered sums each tier's share of amount, rounded up to a multiple of unit. Exact
// integer arithmetic: the same flavor always gets the same reservation.
func tiered(amount int64, tiers []tier, unit int64) int64 {
	sum := new(big.Int)
	var below int64
	for _, t := range tiers {
		part := amount - below
		if t.upTo > 0 {
			part = min(amount, t.upTo) - below
		}
		if part <= 0 {
			break
		}
		sum.Add(sum, new(big.Int).Mul(big.NewInt(part), big.NewInt(t.basisPoints)))
		below = t.upTo
	}
	// ceil(sum / (10000 * unit)) * unit
	div := big.NewInt(10000 * unit)
	q, m := new(big.Int).QuoRem(sum, div, new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64() * unit
}

// evictionAmount is how much of capacity a threshold keeps free: a quantity as it is, a
// percentage of capacity rounded down, as the kubelet does.
func evictionAmount(threshold string, capacity resource.Quantity) (resource.Quantity, error) {
	if m := percentage.FindStringSubmatch(threshold); m != nil {
		pct, ok := new(big.Rat).SetString(m[1])
		if !ok || pct.Cmp(big.NewRat(100, 1)) > 0 {
			return resource.Quantity{}, fmt.Errorf("%q is not a percentage from 0%% to 100%%", threshold)
		}
		amount := new(big.Rat).Mul(pct, new(big.Rat).SetInt64(capacity.Value()))
		amount.Quo(amount, big.NewRat(100, 1))
		floor := new(big.Int).Quo(amount.Num(), amount.Denom())
		return *resource.NewQuantity(floor.Int64(), resource.BinarySI), nil
	}
	q, err := resource.ParseQuantity(threshold)
	if err != nil || q.Sign() < 0 || strings.HasPrefix(threshold, "+") {
		return resource.Quantity{}, fmt.Errorf("%q is neither a quantity (500Mi) nor a percentage (10%%)", threshold)
	}
	return q, nil
}

// Allocatable is what the kubelet offers pods out of capacity (a Node's status.capacity):
// each resource less its kube and system reservation; memory also less
// memory.available, ephemeral-storage less nodefs.available. Resources not reserved
// (pods) pass unchanged. It fails when reservations take all of a resource.
func Allocatable(capacity corev1.ResourceList, r Reserved) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(capacity)) {
		c := capacity[name]
		a := c.DeepCopy()
		a.Sub(r.KubeReserved[name])
		a.Sub(r.SystemReserved[name])
		signal := evictionSignal[name]
		if threshold, ok := r.EvictionHard[signal]; ok && signal != "" {
			amount, err := evictionAmount(threshold, c)
			if err != nil {
				errs = append(errs, fmt.Errorf("evictionHard[%s]: %w", signal, err))
				continue
			}
			a.Sub(amount)
		}
		if a.Sign() <= 0 && c.Sign() > 0 {
			errs = append(errs, fmt.Errorf("reservations leave no %s of %s for pods", name, c.String()))
			continue
		}
		out[name] = a
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("node allocatable: %w", err)
	}
	return out, nil
}

// ApplyTo sets the reservations in a node's kubelet configuration (for example a kubeadm
// join patch of the KubeletConfiguration). It leaves enforceNodeAllocatable as it is: by
// default the kubelet enforces only the pods' share, so no system or kube cgroup is needed.
func (r Reserved) ApplyTo(cfg *kubeletv1beta1.KubeletConfiguration) {
	toStrings := func(l corev1.ResourceList) map[string]string {
		m := make(map[string]string, len(l))
		for name, q := range l {
			m[string(name)] = q.String()
		}
		return m
	}
	cfg.KubeReserved = toStrings(r.KubeReserved)
	cfg.SystemReserved = toStrings(r.SystemReserved)
	cfg.EvictionHard = maps.Clone(r.EvictionHard)
}
