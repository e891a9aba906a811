package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// tracePeriod is how often -trace lists the tenant's objects: a milestone is printed at most
// this much (plus one list's round trip) after it happened. Server timestamps are not used:
// they are whole seconds, coarser than this.
const tracePeriod = 100 * time.Millisecond

// snapshot is what one look at the seed saw. Each part is optional: absent (nil, false)
// records nothing, so each list can be observed with its own time.
type snapshot struct {
	Namespace  bool // the control-plane namespace exists
	Certs      []cmv1.Certificate
	PVCs       []corev1.PersistentVolumeClaim
	Pods       []corev1.Pod
	Kubeconfig bool // the admin kubeconfig Secret exists in the customer's namespace
	Tenant     *v1alpha1.TenantCluster
}

// milestones is the first time each step of a bring-up was observed, relative to the apply.
// No I/O and no clock: observe and lines work on what they are given, so a table test
// drives them.
type milestones struct {
	events map[string]event // by a key stable across polls (pods by UID)
	seq    int
	// Certificates by name: seen, and the first time seen Ready (first and last are printed).
	certSeen  map[string]bool
	certReady map[string]time.Duration
	podUID    map[string]types.UID // by name, the last UID seen
}

type event struct {
	at      time.Duration
	seq     int // insertion order breaks ties between events seen in the same poll
	text    string
	verbose bool // printed with -v only
}

func newMilestones() *milestones {
	return &milestones{
		events: map[string]event{}, certSeen: map[string]bool{}, certReady: map[string]time.Duration{},
		podUID: map[string]types.UID{},
	}
}

// mark records text at the given time unless key was already seen.
func (m *milestones) mark(key string, at time.Duration, text string, verbose bool) {
	if _, ok := m.events[key]; ok {
		return
	}
	m.seq++
	m.events[key] = event{at: at, seq: m.seq, text: text, verbose: verbose}
}

// observe records every milestone s shows for the first time.
func (m *milestones) observe(s snapshot, at time.Duration) {
	if s.Namespace {
		m.mark("namespace", at, "control-plane namespace created", false)
	}
	for _, c := range s.Certs {
		m.certSeen[c.Name] = true
		if _, ok := m.certReady[c.Name]; !ok && certReady(&c) {
			m.certReady[c.Name] = at
		}
	}
	for _, p := range s.PVCs {
		if p.Status.Phase == corev1.ClaimBound {
			m.mark("pvc/"+string(p.UID), at, "pvc "+p.Name+" Bound", false)
		}
	}
	for i := range s.Pods {
		m.observePod(&s.Pods[i], at)
	}
	if s.Kubeconfig {
		m.mark("kubeconfig", at, "admin kubeconfig Secret published", false)
	}
	if s.Tenant != nil {
		for _, c := range s.Tenant.Status.Conditions {
			if c.Status != metav1.ConditionTrue {
				continue
			}
			if c.Type == v1alpha1.ReadyCondition {
				m.mark("tenant/Ready", at, "TenantCluster Ready", false)
			} else {
				m.mark("tenant/"+c.Type, at, "TenantCluster "+c.Type, true)
			}
		}
	}
}

// observePod keys by UID: a pod recreated under the same name (a rollout, a StatefulSet
// member replaced) shows its second bring-up too.
func (m *milestones) observePod(p *corev1.Pod, at time.Duration) {
	key := "pod/" + string(p.UID) + "/"
	name := "pod " + p.Name
	created := name + " created"
	if uid, ok := m.podUID[p.Name]; ok && uid != p.UID {
		created = name + " recreated"
	}
	m.podUID[p.Name] = p.UID
	m.mark(key+"created", at, created, false)
	// In causal order, which is the order of steps first seen in the same poll.
	// Unschedulable explains a wait for the scheduler (a full seed) that is not kubeseed's.
	if c := podConditionOf(p, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
		m.mark(key+"unschedulable", at, name+" unschedulable: "+c.Message, false)
	}
	if podCondition(p, corev1.PodScheduled) {
		m.mark(key+"scheduled", at, name+" scheduled", false)
	}
	for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		ck, cn := key+cs.Name+"/", name+" container "+cs.Name
		if cs.State.Running != nil || (cs.Started != nil && *cs.Started) {
			m.mark(ck+"started", at, cn+" started", false)
		}
		if cs.Ready {
			m.mark(ck+"ready", at, cn+" ready", false)
		}
		if cs.RestartCount > 0 {
			m.mark(ck+"restarted", at, cn+" restarted", false)
		}
	}
	if podCondition(p, corev1.PodReady) {
		m.mark(key+"ready", at, name+" Ready", false)
	}
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) bool {
	c := podConditionOf(p, t)
	return c != nil && c.Status == corev1.ConditionTrue
}

func podConditionOf(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func certReady(c *cmv1.Certificate) bool {
	for _, cond := range c.Status.Conditions {
		if cond.Type == cmv1.CertificateConditionReady && cond.Status == cmmeta.ConditionTrue {
			return true
		}
	}
	return false
}

// lines renders the milestones sorted by time, one per line; with verbose, every
// certificate and TenantCluster condition too. Certificates never seen Ready end the list.
func (m *milestones) lines(verbose bool) []string {
	evs := make([]event, 0, len(m.events)+len(m.certReady))
	for _, e := range m.events {
		if verbose || !e.verbose {
			evs = append(evs, e)
		}
	}
	// Certificate names, by the time they became Ready, then by name.
	ready := make([]string, 0, len(m.certReady))
	for n := range m.certReady {
		ready = append(ready, n)
	}
	sort.Slice(ready, func(i, j int) bool {
		a, b := m.certReady[ready[i]], m.certReady[ready[j]]
		return a < b || a == b && ready[i] < ready[j]
	})
	total := len(m.certSeen)
	for i, n := range ready {
		text := "certificate " + n + " Ready"
		switch {
		case i == 0:
			text += fmt.Sprintf(" (first of %d)", total)
		case i == len(ready)-1 && len(ready) == total:
			text += fmt.Sprintf(" (last of %d)", total)
		case !verbose:
			continue
		}
		// Negative seq: ties with other events list the certificates first, as they precede pods.
		evs = append(evs, event{at: m.certReady[n], seq: -total + i, text: text})
	}
	sort.Slice(evs, func(i, j int) bool {
		return evs[i].at < evs[j].at || evs[i].at == evs[j].at && evs[i].seq < evs[j].seq
	})
	out := make([]string, 0, len(evs)+1)
	for _, e := range evs {
		out = append(out, fmt.Sprintf("  %9s  %s", fmt.Sprintf("+%.3fs", e.at.Seconds()), e.text))
	}
	if len(ready) < total {
		var never []string
		for n := range m.certSeen {
			if _, ok := m.certReady[n]; !ok {
				never = append(never, n)
			}
		}
		slices.Sort(never)
		out = append(out, fmt.Sprintf("  %d of %d certificates never Ready: %s", len(never), total, strings.Join(never, ", ")))
	}
	return out
}

// tracer polls the seed for one tenant's milestones in the background.
type tracer struct {
	c        client.Client
	tc       client.ObjectKey // the TenantCluster
	cpNS     string
	start    time.Time
	mu       sync.Mutex
	m        *milestones
	cancel   context.CancelFunc
	finished chan struct{}
}

// startTrace polls every tracePeriod until stop is called; start is the apply.
func startTrace(ctx context.Context, c client.Client, tc client.ObjectKey, start time.Time) *tracer {
	ctx, cancel := context.WithCancel(ctx)
	t := &tracer{
		c: c, tc: tc, cpNS: controlplane.NamespaceName(tc.Namespace, tc.Name), start: start,
		m: newMilestones(), cancel: cancel, finished: make(chan struct{}),
	}
	go func() {
		defer close(t.finished)
		tick := time.NewTicker(tracePeriod)
		defer tick.Stop()
		for {
			t.poll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return t
}

// mark records a milestone the bench observed itself (its /readyz).
func (t *tracer) mark(key string, at time.Duration, text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m.mark(key, at, text, false)
}

// stop ends polling after one last look, so a state the caller has just seen (Ready) is
// in the trace even if it came between two polls, and returns the milestones.
func (t *tracer) stop(ctx context.Context) *milestones {
	t.cancel()
	<-t.finished
	t.poll(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m
}

// poll lists each part and observes it at the time its answer came back. Errors (not yet
// created, a dropped request) are left to the next poll.
func (t *tracer) poll(ctx context.Context) {
	observe := func(s snapshot) {
		at := time.Since(t.start)
		t.mu.Lock()
		defer t.mu.Unlock()
		t.m.observe(s, at)
	}
	if err := t.c.Get(ctx, client.ObjectKey{Name: t.cpNS}, &corev1.Namespace{}); err == nil {
		observe(snapshot{Namespace: true})
	}
	certs := &cmv1.CertificateList{}
	if err := t.c.List(ctx, certs, client.InNamespace(t.cpNS)); err == nil {
		observe(snapshot{Certs: certs.Items})
	}
	pvcs := &corev1.PersistentVolumeClaimList{}
	if err := t.c.List(ctx, pvcs, client.InNamespace(t.cpNS)); err == nil {
		observe(snapshot{PVCs: pvcs.Items})
	}
	pods := &corev1.PodList{}
	if err := t.c.List(ctx, pods, client.InNamespace(t.cpNS)); err == nil {
		observe(snapshot{Pods: pods.Items})
	}
	secret := types.NamespacedName{Namespace: t.tc.Namespace, Name: controlplane.AdminKubeconfigSecret.Name(t.tc.Name)}
	if err := t.c.Get(ctx, secret, &corev1.Secret{}); err == nil {
		observe(snapshot{Kubeconfig: true})
	}
	tc := &v1alpha1.TenantCluster{}
	if err := t.c.Get(ctx, t.tc, tc); err == nil {
		observe(snapshot{Tenant: tc})
	}
}
