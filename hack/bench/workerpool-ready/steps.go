package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeseed/kubeseed/e2e/dataplane"
)

// joinSteps splits a server's way from ACTIVE to a Ready Node along what the tenant's API
// recorded (whole seconds): the machine up (containerd and the image's images), the
// kubelet's client CSR made (kubeadm's discovery and TLS bootstrap begun) and approved, the
// Node registered, each DaemonSet pod of the node running, the Node Ready.
func joinSteps(ctx context.Context, c kubernetes.Interface, m dataplane.Started, node *corev1.Node, ready time.Time) string {
	steps := []step{{"machine up", m.Booted}}
	if csrs, err := c.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{}); err == nil {
		for _, csr := range csrs.Items {
			// A server of an earlier run had the same name: its CSRs are older than this one.
			if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName || commonName(csr.Spec.Request) != "system:node:"+node.Name ||
				csr.CreationTimestamp.Time.Before(m.Active.Truncate(time.Second)) {
				continue
			}
			steps = append(steps, step{"client CSR", csr.CreationTimestamp.Time})
			for _, cond := range csr.Status.Conditions {
				if cond.Type == certificatesv1.CertificateApproved {
					steps = append(steps, step{"approved", cond.LastUpdateTime.Time})
				}
			}
		}
	}
	steps = append(steps, step{"Node", node.CreationTimestamp.Time})
	if pods, err := c.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node.Name}); err == nil {
		for _, p := range pods.Items {
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Running != nil {
					steps = append(steps, step{cs.Name + " running", cs.State.Running.StartedAt.Time})
				}
			}
		}
	}
	steps = append(steps, step{"Ready", ready})
	var b strings.Builder
	for _, s := range steps {
		fmt.Fprintf(&b, "%s +%.0f s, ", s.what, s.at.Sub(m.Active).Seconds())
	}
	return strings.TrimSuffix(b.String(), ", ")
}

type step struct {
	what string
	at   time.Time
}

// commonName is the subject CN of a PEM certificate request, "" when it does not parse.
func commonName(request []byte) string {
	block, _ := pem.Decode(request)
	if block == nil {
		return ""
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return ""
	}
	return req.Subject.CommonName
}
