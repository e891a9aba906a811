package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

type describeOptions struct {
	logLines  int64
	maxEvents int
}

func newDescribeCommand(g *global) *cobra.Command {
	o := &describeOptions{}
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Explain why a TenantCluster is, or is not, Ready",
		Long: `Show a TenantCluster with what explains its state: a one-line diagnosis, its conditions
(those that are not True first, with reason and message), each control-plane component
(etcd, kube-apiserver, kube-controller-manager, kube-scheduler) with its workload, pods and
condition, and for each component that is not available its pods' problems (CrashLoopBackOff,
image pulls, not ready containers, last termination), the last lines of the failing
container's log and the kubectl command that shows its logs. Then the recent events of the
tenant and of its pods and workloads.`,
		Example: `  kubeseed describe acme -n project-1234`,
		Args:    exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), g, oneName(args))
		},
	}
	f := cmd.Flags()
	f.Int64Var(&o.logLines, "log-lines", 5, "Last lines of each failing container's log to show (0: none).")
	f.IntVar(&o.maxEvents, "max-events", 20, "Most recent events to show (0: none).")
	return cmd
}

func (o *describeOptions) run(ctx context.Context, g *global, name string) error {
	ns, err := g.namespace()
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	s, err := gatherTenant(ctx, c, ns, name)
	if err != nil {
		return err
	}
	var logs logFetcher
	if o.logLines > 0 {
		cfg, err := g.config.ToRESTConfig()
		if err != nil {
			return err
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		logs = func(ctx context.Context, ns, pod, container string, previous bool) (string, error) {
			raw, err := cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{
				Container: container, Previous: previous, TailLines: &o.logLines,
			}).DoRaw(ctx)
			return string(raw), err
		}
	}
	p := describePrinter{
		w: g.streams.Out, now: time.Now(), kubectl: kubectlPrefix(g), logs: logs, maxEvents: o.maxEvents,
	}
	return p.print(ctx, s, diagnose(s, p.now))
}

// kubectlPrefix is "kubectl", with the --kubeconfig and --context kubeseed was given, so the
// printed commands reach the same seed.
func kubectlPrefix(g *global) string {
	parts := []string{"kubectl"}
	if k := *g.config.KubeConfig; k != "" {
		parts = append(parts, "--kubeconfig", k)
	}
	if c := *g.config.Context; c != "" {
		parts = append(parts, "--context", c)
	}
	return strings.Join(parts, " ")
}

// gatherTenant reads everything describe looks at. Only the TenantCluster is required;
// events and certificates are best effort.
func gatherTenant(ctx context.Context, c client.Reader, ns, name string) (*tenantState, error) {
	tc := &v1alpha1.TenantCluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, tc); err != nil {
		return nil, listError(err)
	}
	s := &tenantState{tc: tc, deployments: map[string]*appsv1.Deployment{}, statefulSets: map[string]*appsv1.StatefulSet{}}
	selector := client.MatchingLabels{controlplane.LabelPartOf: controlplane.PartOf, controlplane.LabelTenantCluster: name}
	// The control plane's pods, workloads and certificates live in its own namespace.
	cpns := controlplane.NamespaceOf(tc)

	pools, err := listPools(ctx, c, ns)
	if err != nil {
		return nil, err
	}
	for _, p := range pools {
		if p.Spec.ClusterName == name {
			s.pools = append(s.pools, p)
		}
	}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(cpns), selector); err != nil {
		return nil, fmt.Errorf("list the tenant's pods: %w", err)
	}
	s.pods = pods.Items
	deps := &appsv1.DeploymentList{}
	if err := c.List(ctx, deps, client.InNamespace(cpns), selector); err != nil {
		return nil, fmt.Errorf("list the tenant's Deployments: %w", err)
	}
	for i := range deps.Items {
		s.deployments[deps.Items[i].Name] = &deps.Items[i]
	}
	sts := &appsv1.StatefulSetList{}
	if err := c.List(ctx, sts, client.InNamespace(cpns), selector); err != nil {
		return nil, fmt.Errorf("list the tenant's StatefulSets: %w", err)
	}
	for i := range sts.Items {
		s.statefulSets[sts.Items[i].Name] = &sts.Items[i]
	}
	// The TenantCluster's events, and its pods' (scheduling, image pulls) in the control
	// plane's namespace.
	for _, in := range []string{ns, cpns} {
		events := &corev1.EventList{}
		if err := c.List(ctx, events, client.InNamespace(in)); err == nil {
			s.events = append(s.events, events.Items...)
		}
	}
	if !meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.CertificatesReadyCondition) {
		s.certificates = notReadyCertificates(ctx, c, cpns, name)
	}
	return s, nil
}

// notReadyCertificates lists the tenant's cert-manager Certificates that are not Ready, as
// "name: reason: message"; nil when they cannot be listed.
func notReadyCertificates(ctx context.Context, c client.Reader, ns, name string) []string {
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion("cert-manager.io/v1")
	list.SetKind("CertificateList")
	if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingLabels(pki.Labels(name))); err != nil {
		return nil
	}
	var out []string
	for _, item := range list.Items {
		conds, _, _ := unstructured.NestedSlice(item.Object, "status", "conditions")
		line := item.GetName() + ": no Ready condition yet"
		for _, raw := range conds {
			m, _ := raw.(map[string]any)
			if m["type"] == "Ready" {
				if m["status"] == "True" {
					line = ""
				} else {
					line = fmt.Sprintf("%s: %v: %v", item.GetName(), m["reason"], m["message"])
				}
			}
		}
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

// logFetcher returns the last lines of a container's log.
type logFetcher func(ctx context.Context, ns, pod, container string, previous bool) (string, error)

type describePrinter struct {
	w         io.Writer
	now       time.Time
	kubectl   string
	logs      logFetcher // nil: no log lines
	maxEvents int
}

func (p *describePrinter) print(ctx context.Context, s *tenantState, r *report) error {
	tc := s.tc
	ew := &errWriter{w: p.w}
	line := func(format string, args ...any) { ew.printf(format+"\n", args...) }

	line("Name:         %s", tc.Name)
	line("Namespace:    %s", tc.Namespace)
	line("Control plane: namespace %s", controlplane.NamespaceOf(tc))
	line("Created:      %s ago (%s)", age(tc.CreationTimestamp, p.now), tc.CreationTimestamp.UTC().Format(time.RFC3339))
	line("Phase:        %s", orNone(string(tc.Status.Phase)))
	version := orNone(tc.Status.Version)
	if tc.Spec.Version != tc.Status.Version {
		version += ", spec asks for " + tc.Spec.Version
	}
	line("Version:      %s", version)
	line("Endpoint:     %s (%s)", orNone(tc.Status.Endpoint), tc.Spec.Endpoint.Type)
	if ref := tc.Status.KubeconfigSecretRef; ref != nil {
		line("Kubeconfig:   Secret %s, key %s (kubeseed kubeconfig %s -n %s)", ref.Name, controlplane.KubeconfigKey, tc.Name, tc.Namespace)
	} else {
		line("Kubeconfig:   <none> (not published yet)")
	}
	w := workersByTenant(s.pools)[nsName(tc)]
	line("Workers:      %s ready, in %d WorkerPools", w, w.pools)
	line("Generation:   %d (status describes %d)", tc.Generation, tc.Status.ObservedGeneration)
	if tc.Spec.Paused {
		line("Paused:       true")
	}
	line("")
	line("Diagnosis:    %s", r.summary)

	line("")
	line("Conditions:")
	tw := printers.GetNewTabWriter(ew)
	fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tAGE\tMESSAGE")
	for _, c := range r.conditions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, age(c.LastTransitionTime, p.now), oneLine(c.Message))
	}
	if len(r.conditions) == 0 {
		fmt.Fprintln(tw, "  <none>")
	}
	_ = tw.Flush()

	line("")
	line("Components:")
	tw = printers.GetNewTabWriter(ew)
	fmt.Fprintln(tw, "  COMPONENT\tSTATE\tCONDITION\tWORKLOAD\tREADY\tPODS")
	for _, cr := range r.components {
		cond := "<none>"
		if cr.condition != nil {
			cond = cr.condition.Type + "=" + string(cr.condition.Status)
		}
		ready := "-"
		if cr.found {
			ready = fmt.Sprintf("%d/%d", cr.ready, cr.desired)
		}
		workload := cr.workload
		if !cr.found {
			workload += " (missing)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\n", cr.component, cr.state, cond, workload, ready, len(cr.pods))
	}
	_ = tw.Flush()

	for _, cr := range r.components {
		if cr.state == stateOK {
			continue
		}
		line("")
		title := fmt.Sprintf("%s (%s)", cr.component, cr.state)
		if cr.component == r.culprit {
			title += ", the likely cause"
		}
		line("%s:", title)
		if cr.condition != nil {
			line("  %s=%s (%s): %s", cr.condition.Type, cr.condition.Status, cr.condition.Reason, oneLine(cr.condition.Message))
		}
		if len(cr.pods) == 0 {
			if cr.found && cr.desired == 0 {
				line("  no pods: %s is scaled to 0", cr.workload)
			} else {
				line("  no pods")
			}
		}
		for _, pod := range cr.pods {
			p.printPod(ctx, ew, controlplane.NamespaceOf(tc), string(cr.component), pod)
		}
	}

	if len(s.certificates) > 0 {
		line("")
		line("Certificates not Ready (kubectl -n %s get certificates -l %s=%s):", controlplane.NamespaceOf(tc), controlplane.LabelTenantCluster, tc.Name)
		for _, c := range s.certificates {
			line("  %s", oneLine(c))
		}
	}

	if p.maxEvents > 0 {
		line("")
		events := r.events
		if len(events) > p.maxEvents {
			line("Events (newest first, %d of %d):", p.maxEvents, len(events))
			events = events[:p.maxEvents]
		} else {
			line("Events (newest first):")
		}
		if len(events) == 0 {
			line("  <none>")
		} else {
			tw = printers.GetNewTabWriter(ew)
			fmt.Fprintln(tw, "  LAST SEEN\tTYPE\tREASON\tOBJECT\tMESSAGE")
			for _, e := range events {
				count := ""
				if e.Count > 1 {
					count = fmt.Sprintf(" (x%d)", e.Count)
				}
				fmt.Fprintf(tw, "  %s%s\t%s\t%s\t%s/%s\t%s\n", age(metav1.NewTime(eventTime(e)), p.now), count, e.Type, e.Reason,
					strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, oneLine(e.Message))
			}
			_ = tw.Flush()
		}
	}
	return ew.err
}

// printPod prints one pod of a component that is not available: its problems, the tail of
// the failing container's log, and the command for the whole log.
func (p *describePrinter) printPod(ctx context.Context, w *errWriter, ns, component string, pod podReport) {
	w.printf("  Pod %s (%s, %d/%d ready, %d restarts)", pod.name, pod.phase, pod.ready, pod.total, pod.restarts)
	if len(pod.problems) == 0 {
		w.printf(": no problem seen\n")
		w.printf("    logs: %s -n %s logs %s -c %s\n", p.kubectl, ns, pod.name, component)
		return
	}
	w.printf(":\n")
	for _, problem := range pod.problems {
		w.printf("    %s\n", problem)
	}
	for _, l := range pod.logs {
		prev := ""
		if l.previous {
			prev = " --previous"
		}
		if p.logs != nil {
			tail, err := p.logs(ctx, ns, pod.name, l.container, l.previous)
			switch {
			case err != nil:
				w.printf("    last log lines of %s: unavailable (%s)\n", l.container, oneLine(err.Error()))
			case strings.TrimSpace(tail) == "":
				w.printf("    last log lines of %s: <empty>\n", l.container)
			default:
				instance := "current"
				if l.previous {
					instance = "previous"
				}
				w.printf("    last log lines of %s (%s instance):\n", l.container, instance)
				for _, s := range strings.Split(strings.TrimRight(tail, "\n"), "\n") {
					if s = strings.TrimRight(s, " \t\r"); s == "" {
						w.printf("\n")
					} else {
						w.printf("      %s\n", truncate(s, 300))
					}
				}
			}
		}
		w.printf("    logs: %s -n %s logs %s -c %s%s\n", p.kubectl, ns, pod.name, l.container, prev)
	}
	if pod.describe {
		w.printf("    why: %s -n %s describe pod %s\n", p.kubectl, ns, pod.name)
	}
}

// errWriter keeps the first write error, so printing code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func nsName(tc *v1alpha1.TenantCluster) types.NamespacedName {
	return types.NamespacedName{Namespace: tc.Namespace, Name: tc.Name}
}
