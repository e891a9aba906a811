package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// ErrWaitTimeout is returned when a wait ended before the TenantCluster got there.
var ErrWaitTimeout = errors.New("timed out")

type waitOptions struct {
	forArg   string
	timeout  time.Duration
	interval time.Duration
}

func newWaitCommand(g *global) *cobra.Command {
	o := &waitOptions{interval: 2 * time.Second}
	cmd := &cobra.Command{
		Use:   "wait NAME... [--for=Ready] [--timeout=10m]",
		Short: "Wait until TenantClusters are Ready (or another condition holds, or they are deleted)",
		Long: `Wait until each named TenantCluster has the condition --for: Ready by default, any other
condition type (AddonsReady, condition=TunnelReady, condition=Ready=False), or "delete" to wait
until it is gone. A condition counts only once the controller has seen the current spec (its
observedGeneration is the TenantCluster's generation), so waiting right after a change waits for
that change.

While waiting, a line on stderr shows the phase and the conditions that are not True each time
they change. On success, "tenantcluster.kubeseed.io/NAME condition met" goes to stdout and the exit
code is 0; at --timeout the error names what was still not Ready and the exit code is 1.`,
		Example: `  kubectl apply -f config/samples/tenantcluster-small.yaml
  kubeseed wait small --timeout 5m && kubeseed kubeconfig small --output-file small.kubeconfig`,
		Args: func(cmd *cobra.Command, args []string) error {
			names, err := parseNames(args)
			if err != nil {
				return err
			}
			if len(names) == 0 {
				return usageErrorf("%s wants at least one TenantCluster NAME", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			names, _ := parseNames(args)
			return o.run(cmd.Context(), g, names)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.forArg, "for", v1alpha1.ReadyCondition, "What to wait for: a condition type (Ready), condition=TYPE[=STATUS], or delete.")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "How long to wait for all of them before giving up.")
	return cmd
}

// waitFor is what --for asks for.
type waitFor struct {
	deleted   bool
	condition string
	status    metav1.ConditionStatus
}

func (w waitFor) String() string {
	switch {
	case w.deleted:
		return "be deleted"
	case w.status == metav1.ConditionTrue:
		return "be " + w.condition
	default:
		return fmt.Sprintf("have %s=%s", w.condition, w.status)
	}
}

// parseFor reads --for: delete, TYPE, condition=TYPE or condition=TYPE=STATUS.
func parseFor(s string) (waitFor, error) {
	if strings.EqualFold(s, "delete") {
		return waitFor{deleted: true}, nil
	}
	s = strings.TrimPrefix(s, "condition=")
	cond, status, hasStatus := strings.Cut(s, "=")
	w := waitFor{condition: cond, status: metav1.ConditionTrue}
	if hasStatus {
		switch strings.ToLower(status) {
		case "true":
		case "false":
			w.status = metav1.ConditionFalse
		case "unknown":
			w.status = metav1.ConditionUnknown
		default:
			return waitFor{}, usageErrorf("--for %s: the status must be True, False or Unknown", s)
		}
	}
	if cond == "" || strings.ContainsAny(cond, " =/") {
		return waitFor{}, usageErrorf("--for %q: want delete, a condition type such as Ready, or condition=TYPE[=STATUS]", s)
	}
	return w, nil
}

func (o *waitOptions) run(ctx context.Context, g *global, names []string) error {
	what, err := parseFor(o.forArg)
	if err != nil {
		return err
	}
	if o.timeout <= 0 {
		return usageErrorf("--timeout must be positive")
	}
	ns, err := g.namespace()
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(o.timeout)
	for _, name := range names {
		w := &waiter{
			c: c, key: client.ObjectKey{Namespace: ns, Name: name}, what: what,
			timeout: time.Until(deadline), total: o.timeout, interval: o.interval, progress: g.streams.ErrOut,
		}
		if err := w.wait(ctx); err != nil {
			return err
		}
		done := "condition met"
		if what.deleted {
			done = "deleted"
		}
		fmt.Fprintf(g.streams.Out, "tenantcluster.kubeseed.io/%s %s\n", name, done)
	}
	return nil
}

// waiter polls one TenantCluster until what holds.
type waiter struct {
	c        client.Reader
	key      client.ObjectKey
	what     waitFor
	timeout  time.Duration // what is left of the wait
	total    time.Duration // the --timeout, for messages
	interval time.Duration
	progress io.Writer
}

func (w *waiter) wait(ctx context.Context) error {
	start := time.Now()
	last := ""
	var tc *v1alpha1.TenantCluster
	err := wait.PollUntilContextTimeout(ctx, w.interval, w.timeout, true, func(ctx context.Context) (bool, error) {
		got := &v1alpha1.TenantCluster{}
		if err := w.c.Get(ctx, w.key, got); err != nil {
			switch {
			case apierrors.IsNotFound(err) && w.what.deleted:
				return true, nil
			case apierrors.IsNotFound(err) && tc != nil:
				return false, fmt.Errorf("the TenantCluster %s was deleted while waiting for it to %s", w.key, w.what)
			case apierrors.IsNotFound(err), apierrors.IsForbidden(err), apierrors.IsUnauthorized(err), meta.IsNoMatchError(err):
				return false, listError(err)
			default: // a seed that hiccups: the next poll may do better
				return false, nil
			}
		}
		tc = got
		if line := progressLine(tc, w.what); line != last {
			fmt.Fprintf(w.progress, "%5s %s/%s %s\n", shortDuration(time.Since(start)), w.key.Namespace, w.key.Name, line)
			last = line
		}
		return !w.what.deleted && conditionMet(tc, w.what), nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil && wait.Interrupted(err):
		return w.timeoutError(tc)
	default:
		return err
	}
}

// conditionMet: the condition has the wanted status, for the current spec.
func conditionMet(tc *v1alpha1.TenantCluster, what waitFor) bool {
	c := meta.FindStatusCondition(tc.Status.Conditions, what.condition)
	return c != nil && c.Status == what.status && (c.ObservedGeneration == 0 || c.ObservedGeneration >= tc.Generation)
}

// progressLine is the phase and, one line each, the conditions that are not True and
// matter for what is awaited; it changes whenever one of them does.
func progressLine(tc *v1alpha1.TenantCluster, what waitFor) string {
	var b strings.Builder
	b.WriteString(orNone(string(tc.Status.Phase)))
	if tc.Status.ObservedGeneration < tc.Generation {
		b.WriteString(" (the controller has not seen the latest spec yet)")
	}
	for _, c := range missing(tc, what) {
		fmt.Fprintf(&b, "\n        %s=%s %s: %s", c.Type, c.Status, c.Reason, truncate(oneLine(c.Message), 160))
	}
	return b.String()
}

// missing lists the conditions that are not True and matter for what: the components Ready
// sums up, Ready itself when something other than a component holds it (InvalidSpec,
// Paused), and the awaited condition. The inside of the tenant (AddonsReady and the like)
// waits for workers and is not part of Ready, so it is left out unless awaited.
func missing(tc *v1alpha1.TenantCluster, what waitFor) []metav1.Condition {
	var out []metav1.Condition
	for _, c := range sortConditions(tc.Status.Conditions) {
		switch {
		case c.Type == what.condition && c.Status == what.status:
			// Met, perhaps for an older spec: timeoutError says so.
		case c.Type == v1alpha1.ReadyCondition && c.Reason == v1alpha1.NotReadyReason:
			// Its message repeats the components listed.
		case c.Type == what.condition:
			out = append(out, c)
		case c.Status != metav1.ConditionTrue && (c.Type == v1alpha1.ReadyCondition || slices.Contains(readyConditions(), c.Type)):
			out = append(out, c)
		}
	}
	return out
}

// timeoutError names what was still missing when the wait gave up.
func (w *waiter) timeoutError(tc *v1alpha1.TenantCluster) error {
	name := w.key.Namespace + "/" + w.key.Name
	if tc == nil {
		return fmt.Errorf("%w after %s waiting for TenantCluster %s to %s", ErrWaitTimeout, w.total, name, w.what)
	}
	var notTrue []string
	for _, c := range missing(tc, w.what) {
		notTrue = append(notTrue, fmt.Sprintf("%s=%s (%s: %s)", c.Type, c.Status, c.Reason, truncate(oneLine(c.Message), 160)))
	}
	still := ""
	if len(notTrue) > 0 {
		still = "; not yet: " + strings.Join(notTrue, ", ")
	}
	if c := meta.FindStatusCondition(tc.Status.Conditions, w.what.condition); !w.what.deleted && c != nil &&
		c.Status == w.what.status && c.ObservedGeneration < tc.Generation {
		still += fmt.Sprintf("; %s=%s describes generation %d, not the current %d", c.Type, c.Status, c.ObservedGeneration, tc.Generation)
	}
	return fmt.Errorf("%w after %s waiting for TenantCluster %s to %s: phase %s%s (kubeseed describe %s -n %s)",
		ErrWaitTimeout, w.total, name, w.what, orNone(string(tc.Status.Phase)), still, w.key.Name, w.key.Namespace)
}

// shortDuration prints whole seconds, or minutes and seconds.
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}
