package pki

import (
	"fmt"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
)

// Ready says whether cert's Secret holds a valid certificate for the Certificate's current
// spec, and why not, in words for a condition message. A Ready condition set for an older
// generation does not count: the Secret may not match the new spec (new SANs) yet. A
// renewal in progress does not make a Certificate unready; its current Secret still serves.
func Ready(cert *cmv1.Certificate) (bool, string) {
	if cert == nil {
		return false, "Certificate does not exist yet"
	}
	var ready *cmv1.CertificateCondition
	for i := range cert.Status.Conditions {
		if cert.Status.Conditions[i].Type == cmv1.CertificateConditionReady {
			ready = &cert.Status.Conditions[i]
			break
		}
	}
	switch {
	case ready == nil:
		return false, fmt.Sprintf("Certificate %s: not issued yet", cert.Name)
	case ready.ObservedGeneration < cert.Generation:
		return false, fmt.Sprintf("Certificate %s: waiting for cert-manager to observe generation %d", cert.Name, cert.Generation)
	case ready.Status != cmmeta.ConditionTrue:
		return false, fmt.Sprintf("Certificate %s: %s (%s)", cert.Name, orElse(ready.Message, "not ready"), orElse(ready.Reason, "no reason given"))
	}
	return true, fmt.Sprintf("Certificate %s: %s", cert.Name, orElse(ready.Message, "ready"))
}

// Expiry is the notAfter of the certificate in cert's Secret, as cert-manager reports it;
// false when it reports none (not issued yet).
func Expiry(cert *cmv1.Certificate) (time.Time, bool) {
	if cert == nil || cert.Status.NotAfter == nil {
		return time.Time{}, false
	}
	return cert.Status.NotAfter.Time, true
}

func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
