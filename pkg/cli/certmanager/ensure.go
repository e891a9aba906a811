package certmanager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RequiredCRDs are the cert-manager CRDs kubeseed uses (ACME's are not needed).
var RequiredCRDs = []string{
	"certificaterequests.cert-manager.io", "certificates.cert-manager.io",
	"clusterissuers.cert-manager.io", "issuers.cert-manager.io",
}

// Installation is the cert-manager a seed has.
type Installation struct {
	// CRDs are the RequiredCRDs present; MissingCRDs the others.
	CRDs, MissingCRDs []string
	// Controller is cert-manager's controller Deployment; nil when there is none.
	Controller *appsv1.Deployment
	// Version is the controller's version ("" when it cannot be told).
	Version string
	// Available: the controller Deployment has rolled out and has an available replica.
	Available bool
	// Ours: kubeseed applied it (field manager FieldOwner on the Deployment or the CRDs).
	Ours bool
}

// Absent says there is no trace of cert-manager at all.
func (i *Installation) Absent() bool { return i.Controller == nil && len(i.CRDs) == 0 }

// Where names the controller Deployment, namespace/name.
func (i *Installation) Where() string {
	if i.Controller == nil {
		return ""
	}
	return i.Controller.Namespace + "/" + i.Controller.Name
}

// Detect looks for cert-manager in the seed: the required CRDs, and a Deployment labelled
// as upstream labels its controller, in any namespace. With several, an available one wins.
func Detect(ctx context.Context, c client.Client) (*Installation, error) {
	inst := &Installation{}
	for _, name := range RequiredCRDs {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		switch err := c.Get(ctx, client.ObjectKey{Name: name}, crd); {
		case apierrors.IsNotFound(err):
			inst.MissingCRDs = append(inst.MissingCRDs, name)
		case err != nil:
			return nil, fmt.Errorf("look for cert-manager's CRD %s: %w", name, err)
		default:
			inst.CRDs = append(inst.CRDs, name)
			inst.Ours = inst.Ours || managedBy(crd, FieldOwner)
		}
	}
	deps := &appsv1.DeploymentList{}
	if err := c.List(ctx, deps, client.MatchingLabels{LabelName: NameValue, LabelComponent: ControllerComponent}); err != nil {
		return nil, fmt.Errorf("look for cert-manager's controller Deployment: %w", err)
	}
	slices.SortFunc(deps.Items, func(a, b appsv1.Deployment) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	for i := range deps.Items {
		d := &deps.Items[i]
		if inst.Controller == nil || (!inst.Available && DeploymentAvailable(d)) {
			inst.Controller, inst.Available = d, DeploymentAvailable(d)
		}
	}
	if d := inst.Controller; d != nil {
		inst.Ours = inst.Ours || managedBy(d, FieldOwner)
		inst.Version = d.Labels[LabelVersion]
		if inst.Version == "" && len(d.Spec.Template.Spec.Containers) > 0 {
			inst.Version = imageTag(d.Spec.Template.Spec.Containers[0].Image)
		}
	}
	return inst, nil
}

// DeploymentAvailable reports that the Deployment's latest spec has rolled out and at least one replica
// is available (a Deployment scaled to zero is not).
func DeploymentAvailable(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas >= want &&
		d.Status.AvailableReplicas >= 1 && want >= 1
}

func managedBy(o metav1.Object, manager string) bool {
	for _, f := range o.GetManagedFields() {
		if f.Manager == manager {
			return true
		}
	}
	return false
}

// Action is what Ensure did.
type Action string

// Actions of Ensure.
const (
	Installed Action = "installed"
	Upgraded  Action = "upgraded"
	Unchanged Action = "unchanged"
)

// Result says what Ensure found and did.
type Result struct {
	Action Action
	// Version is the version running now; Previous the one before an upgrade.
	Version, Previous string
	// Controller is the controller Deployment, namespace/name.
	Controller string
	// Ours: kubeseed installed this cert-manager.
	Ours bool
}

// Errors Ensure refuses with. The messages say what to do.
var (
	// ErrVersionMismatch: a cert-manager kubeseed did not install (or a newer one) runs at
	// another version than the one wanted.
	ErrVersionMismatch = errors.New("cert-manager version mismatch")
	// ErrIncomplete: parts of a cert-manager kubeseed did not install are missing.
	ErrIncomplete = errors.New("incomplete cert-manager")
	// ErrNotAvailable: cert-manager did not become available in time.
	ErrNotAvailable = errors.New("cert-manager not available")
)

// Options of Ensure.
type Options struct {
	// Source of an install or upgrade.
	Source Source
	// Version the seed must run; empty means the source's.
	Version string
	// Timeout bounds each wait: for the Deployments, then for the API.
	Timeout time.Duration
	// Interval between polls; zero is two seconds.
	Interval time.Duration
	// Logf reports progress; nil is quiet.
	Logf func(format string, args ...any)
}

// Ensure makes sure the seed runs cert-manager at the wanted version, installing it when
// there is none, and returns what it did:
//
//   - nothing there: apply the source, wait for its Deployments and its API (Installed);
//   - the wanted version: wait for it to be available, change nothing (Unchanged);
//   - an older version kubeseed installed: apply the source over it (Upgraded);
//   - any other version, or parts of an install kubeseed did not make: refuse, without
//     touching anything, with an error that says what was found and what to do.
func Ensure(ctx context.Context, c client.Client, opts Options) (*Result, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Minute
	}
	if opts.Interval == 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	var bundle *Bundle
	load := func() error {
		if bundle != nil {
			return nil
		}
		var err error
		if bundle, err = opts.Source.Load(ctx); err != nil {
			return err
		}
		if opts.Version != "" && bundle.Version != opts.Version {
			hint := ""
			if opts.Source.Manifest == "" {
				hint = fmt.Sprintf(": give its manifest, e.g. --cert-manager-manifest=%s", UpstreamManifestURL(opts.Version))
			}
			return fmt.Errorf("cert-manager %s is wanted but %s holds %s%s", opts.Version, bundle.From, bundle.Version, hint)
		}
		return nil
	}
	want := opts.Version
	if want == "" {
		if opts.Source.Manifest != "" {
			if err := load(); err != nil {
				return nil, err
			}
			want = bundle.Version
		} else {
			want = EmbeddedVersion
		}
	}

	inst, err := Detect(ctx, c)
	if err != nil {
		return nil, err
	}
	res := &Result{Version: inst.Version, Controller: inst.Where(), Ours: inst.Ours}
	switch {
	case inst.Absent():
		opts.Logf("cert-manager: not found in the seed; installing %s", want)
		res.Action, res.Version, res.Ours = Installed, want, true
	case inst.Controller == nil && inst.Ours:
		// An install of ours that did not get as far as the Deployments: finish it.
		opts.Logf("cert-manager: completing an earlier install by kubeseed")
		res.Action, res.Version = Installed, want
	case inst.Controller == nil:
		return nil, fmt.Errorf("%w: the cert-manager CRDs %s exist but no cert-manager controller Deployment (labels %s=%s, %s=%s) was found, and kubeseed did not install them: "+
			"finish or remove that install, or run with --skip-cert-manager if cert-manager runs in a form kubeseed does not recognise",
			ErrIncomplete, strings.Join(inst.CRDs, ", "), LabelName, NameValue, LabelComponent, ControllerComponent)
	case inst.Version != want:
		if !inst.Ours || !older(inst.Version, want) {
			return nil, mismatch(inst, want)
		}
		opts.Logf("cert-manager: upgrading kubeseed's install in %s from %s to %s", inst.Where(), inst.Version, want)
		res.Action, res.Previous, res.Version = Upgraded, inst.Version, want
	case len(inst.MissingCRDs) > 0 && inst.Ours:
		opts.Logf("cert-manager: restoring the missing CRDs %s", strings.Join(inst.MissingCRDs, ", "))
		res.Action = Installed
	case len(inst.MissingCRDs) > 0:
		return nil, fmt.Errorf("%w: cert-manager %s runs in %s but the CRDs %s are missing, and kubeseed did not install it: reinstall it the way it was installed",
			ErrIncomplete, inst.Version, inst.Where(), strings.Join(inst.MissingCRDs, ", "))
	default:
		res.Action = Unchanged
		if !inst.Available {
			opts.Logf("cert-manager: %s found in %s; waiting for it to become available", inst.Version, inst.Where())
			if err := waitDeployments(ctx, c, []string{inst.Where()}, opts); err != nil {
				return nil, err
			}
		}
		if err := waitAPI(ctx, c, inst.Controller.Namespace, opts); err != nil {
			return nil, err
		}
		return res, nil
	}

	if err := load(); err != nil {
		return nil, err
	}
	if err := apply(ctx, c, bundle.Objects); err != nil {
		return nil, err
	}
	opts.Logf("cert-manager: %d objects applied from %s; waiting for its Deployments", len(bundle.Objects), bundle.From)
	var deployments []string
	ns := Namespace
	for _, o := range bundle.Objects {
		if o.GetKind() == "Deployment" {
			deployments = append(deployments, o.GetNamespace()+"/"+o.GetName())
			if o.GetLabels()[LabelComponent] == ControllerComponent {
				ns, res.Controller = o.GetNamespace(), o.GetNamespace()+"/"+o.GetName()
			}
		}
	}
	if err := waitDeployments(ctx, c, deployments, opts); err != nil {
		return nil, err
	}
	if err := waitAPI(ctx, c, ns, opts); err != nil {
		return nil, err
	}
	return res, nil
}

func mismatch(inst *Installation, want string) error {
	found := inst.Version
	if found == "" {
		found = "of an unknown version"
	}
	why := "kubeseed did not install it and never replaces a cert-manager it did not install"
	if inst.Ours {
		why = "kubeseed does not downgrade cert-manager"
	}
	return fmt.Errorf("%w: cert-manager %s runs in the seed (Deployment %s), but %s is wanted, and %s. "+
		"Upgrade it the way it was installed, or keep it with --cert-manager-version=%s if kubeseed supports that version",
		ErrVersionMismatch, found, inst.Where(), want, why, inst.Version)
}

// older reports a < b as semantic versions; anything that does not parse is not older.
func older(a, b string) bool {
	va, err := version.ParseSemantic(a)
	if err != nil {
		return false
	}
	vb, err := version.ParseSemantic(b)
	if err != nil {
		return false
	}
	return va.LessThan(vb)
}

// apply server-side applies objs in their order, taking over the fields it sets.
func apply(ctx context.Context, c client.Client, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply cert-manager's %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	return nil
}

// waitDeployments waits until every namespace/name Deployment is available, reporting
// which ones it waits for whenever that changes.
func waitDeployments(ctx context.Context, c client.Client, names []string, opts Options) error {
	var pending []string
	last := ""
	err := wait.PollUntilContextTimeout(ctx, opts.Interval, opts.Timeout, true, func(ctx context.Context) (bool, error) {
		pending = pending[:0]
		for _, n := range names {
			ns, name, _ := strings.Cut(n, "/")
			d := &appsv1.Deployment{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
				switch {
				case apierrors.IsNotFound(err):
					pending = append(pending, n+" (missing)")
				case permanent(err):
					return false, err
				default: // the next poll may do better
					pending = append(pending, fmt.Sprintf("%s (%v)", n, err))
				}
				continue
			}
			if !DeploymentAvailable(d) {
				state := fmt.Sprintf("%d/%d available", d.Status.AvailableReplicas, ptrOr(d.Spec.Replicas, 1))
				if d.Status.AvailableReplicas > 0 {
					state += ", rolling out"
				}
				pending = append(pending, n+" ("+state+")")
			}
		}
		if now := strings.Join(pending, ", "); now != last && now != "" {
			opts.Logf("cert-manager: waiting for %s", now)
			last = now
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		if ctx.Err() == nil && wait.Interrupted(err) {
			ns, name, _ := strings.Cut(strings.Fields(pending[0])[0], "/")
			return fmt.Errorf("%w within %s: %s (kubectl -n %s describe deployment %s)", ErrNotAvailable, opts.Timeout, strings.Join(pending, ", "), ns, name)
		}
		return fmt.Errorf("wait for cert-manager: %w", err)
	}
	return nil
}

// waitAPI waits until the API takes a cert-manager object: a server-side dry run of a
// self-signed Issuer, which goes through cert-manager's webhook when there is one (what
// upstream's startupapicheck and `cmctl check api` do).
func waitAPI(ctx context.Context, c client.Client, ns string, opts Options) error {
	issuer := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
		"metadata": map[string]any{"name": "kubeseed-api-check", "namespace": ns},
		"spec":     map[string]any{"selfSigned": map[string]any{}},
	}}
	var lastErr error
	logged := false
	err := wait.PollUntilContextTimeout(ctx, opts.Interval, opts.Timeout, true, func(ctx context.Context) (bool, error) {
		lastErr = c.Create(ctx, issuer.DeepCopy(), client.DryRunAll)
		if lastErr == nil || apierrors.IsAlreadyExists(lastErr) {
			return true, nil
		}
		if !logged {
			opts.Logf("cert-manager: waiting for its API (%v)", lastErr)
			logged = true
		}
		return false, nil
	})
	if err != nil {
		if ctx.Err() == nil && wait.Interrupted(err) {
			return fmt.Errorf("%w: its API refuses a dry-run Issuer after %s: %w (kubectl -n %s get pods)", ErrNotAvailable, opts.Timeout, lastErr, ns)
		}
		return fmt.Errorf("wait for cert-manager's API: %w", err)
	}
	return nil
}

// permanent errors end a wait at once: polling again cannot help.
func permanent(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || meta.IsNoMatchError(err)
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
