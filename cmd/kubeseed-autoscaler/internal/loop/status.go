package loop

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/cmd/kubeseed-autoscaler/internal/plan"
)

// StatusConfigMap is where the autoscaler explains itself inside the tenant, under
// cluster-autoscaler's name, which users already know to read.
const (
	StatusNamespace = "kube-system"
	StatusName      = "cluster-autoscaler-status"
	StatusKey       = "status"
)

// statusDoc is the status ConfigMap's content. It holds no clock reading of its own, so
// that a settled tenant's status does not change and is not rewritten.
type statusDoc struct {
	Cluster            string            `json:"cluster"`
	Pools              []poolStatus      `json:"pools"`
	UnschedulablePods  int               `json:"unschedulablePods"`
	PodsWaitingForNode int               `json:"podsFittingExistingOrComingNodes"`
	NoScaleUp          map[string]string `json:"podsNoPoolCanHelp,omitempty"`
	LastDecision       string            `json:"lastDecision,omitempty"`
	UnneededNodes      map[string]string `json:"unneededNodes,omitempty"`
	ScaleDownHeld      []string          `json:"scaleDownHeld,omitempty"`
}

type poolStatus struct {
	Name       string `json:"name"`
	Autoscaled bool   `json:"autoscaled"`
	Replicas   int32  `json:"replicas"`
	Min        int32  `json:"min,omitempty"`
	Max        int32  `json:"max,omitempty"`
	Nodes      int    `json:"nodes"`
}

// maxListed bounds the pods named in the status: a ConfigMap holds at most 1 MiB.
const maxListed = 50

func (a *Autoscaler) renderStatus(in plan.Input, res plan.Result) (string, error) {
	doc := statusDoc{
		Cluster: a.cfg.Namespace + "/" + a.cfg.Cluster, UnschedulablePods: res.Unschedulable,
		PodsWaitingForNode: len(res.WillFit), LastDecision: a.lastDecision, ScaleDownHeld: res.Held,
	}
	if len(doc.ScaleDownHeld) > maxListed {
		doc.ScaleDownHeld = append(doc.ScaleDownHeld[:maxListed:maxListed], fmt.Sprintf("and %d more", len(res.Held)-maxListed))
	}
	for i, n := range sortedKeys(res.Unneeded) {
		if doc.UnneededNodes == nil {
			doc.UnneededNodes = map[string]string{}
		}
		if i == maxListed {
			doc.UnneededNodes["…"] = fmt.Sprintf("and %d more", len(res.Unneeded)-maxListed)
			break
		}
		doc.UnneededNodes[n] = res.Unneeded[n]
	}
	for _, p := range in.Pools {
		doc.Pools = append(doc.Pools, poolStatus{Name: p.Name, Autoscaled: p.Autoscaled, Replicas: p.Replicas, Min: p.Min, Max: p.Max, Nodes: nodesOf(in, p.Name)})
	}
	for i, v := range res.NoScaleUp {
		if i == maxListed {
			doc.NoScaleUp["…"] = fmt.Sprintf("and %d more", len(res.NoScaleUp)-maxListed)
			break
		}
		if doc.NoScaleUp == nil {
			doc.NoScaleUp = map[string]string{}
		}
		msg := "no WorkerPool of the cluster is autoscaled"
		if len(v.Reasons) > 0 {
			msg = ""
			for _, pool := range sortedKeys(v.Reasons) {
				if msg != "" {
					msg += "; "
				}
				msg += pool + ": " + v.Reasons[pool]
			}
		}
		doc.NoScaleUp[v.Pod.String()] = msg
	}
	out, err := yaml.Marshal(doc)
	return string(out), err
}

// writeStatus writes the status ConfigMap when its content changed.
func (a *Autoscaler) writeStatus(ctx context.Context, in plan.Input, res plan.Result) error {
	text, err := a.renderStatus(in, res)
	if err != nil || text == a.status {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, tenantCallTimeout)
	defer cancel()
	cms := a.tenant.CoreV1().ConfigMaps(StatusNamespace)
	cm, err := cms.Get(ctx, StatusName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: StatusName, Namespace: StatusNamespace}, Data: map[string]string{StatusKey: text}}
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: "kubeseed-autoscaler"})
	case err == nil:
		if cm.Data[StatusKey] == text {
			break
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[StatusKey] = text
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubeseed-autoscaler"})
	}
	if err != nil {
		return fmt.Errorf("write %s/%s in the tenant: %w", StatusNamespace, StatusName, err)
	}
	a.status = text
	return nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
