package pki_test

import (
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeseed/kubeseed/pkg/pki"
)

func TestReady(t *testing.T) {
	cert := func(gen int64, conds ...cmv1.CertificateCondition) *cmv1.Certificate {
		return &cmv1.Certificate{
			ObjectMeta: metav1.ObjectMeta{Name: "acme-ca", Generation: gen},
			Status:     cmv1.CertificateStatus{Conditions: conds},
		}
	}
	ready := func(status cmmeta.ConditionStatus, observed int64, reason, msg string) cmv1.CertificateCondition {
		return cmv1.CertificateCondition{Type: cmv1.CertificateConditionReady, Status: status, ObservedGeneration: observed, Reason: reason, Message: msg}
	}
	issuing := cmv1.CertificateCondition{Type: cmv1.CertificateConditionIssuing, Status: cmmeta.ConditionTrue, Reason: "Renewing"}
	cases := []struct {
		name string
		cert *cmv1.Certificate
		ok   bool
		msg  string
	}{
		{"missing", nil, false, "does not exist"},
		{"no conditions", cert(1), false, "acme-ca: not issued yet"},
		{"only issuing", cert(1, issuing), false, "not issued yet"},
		{"not ready", cert(1, ready(cmmeta.ConditionFalse, 1, "DoesNotExist", "Issuing certificate as Secret does not exist")), false,
			"acme-ca: Issuing certificate as Secret does not exist (DoesNotExist)"},
		{"unknown without words", cert(1, ready(cmmeta.ConditionUnknown, 1, "", "")), false, "not ready (no reason given)"},
		{"stale", cert(3, ready(cmmeta.ConditionTrue, 2, "Ready", "Certificate is up to date and has not expired")), false, "observe generation 3"},
		{"ready", cert(2, ready(cmmeta.ConditionTrue, 2, "Ready", "Certificate is up to date and has not expired")), true,
			"acme-ca: Certificate is up to date and has not expired"},
		{"ready while renewing", cert(2, issuing, ready(cmmeta.ConditionTrue, 2, "Ready", "ok")), true, "ok"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, msg := pki.Ready(c.cert)
			if ok != c.ok || !strings.Contains(msg, c.msg) {
				t.Errorf("Ready = %v, %q; want %v, containing %q", ok, msg, c.ok, c.msg)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	at := time.Date(2036, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name string
		cert *cmv1.Certificate
		want time.Time
		ok   bool
	}{
		{"nil", nil, time.Time{}, false},
		{"not issued", &cmv1.Certificate{}, time.Time{}, false},
		{"issued", &cmv1.Certificate{Status: cmv1.CertificateStatus{NotAfter: &metav1.Time{Time: at}}}, at, true},
	} {
		if got, ok := pki.Expiry(c.cert); !got.Equal(c.want) || ok != c.ok {
			t.Errorf("%s: Expiry = %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
