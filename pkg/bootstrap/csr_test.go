package bootstrap

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"net/url"
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Keys are slow to make (RSA): one of each kind for all cases.
var (
	ecKey, _      = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _     = rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _   = ed25519.GenerateKey(rand.Reader)
	servingUsages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
	rsaUsages     = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth}
)

func worker() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "worker-1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeHostName, Address: "worker-1"},
			{Type: corev1.NodeInternalIP, Address: "192.168.10.5"},
			{Type: corev1.NodeExternalIP, Address: "203.0.113.50"},
			{Type: corev1.NodeInternalIP, Address: "fd00::5"},
			{Type: corev1.NodeInternalDNS, Address: "worker-1.acme.internal"},
		}},
	}
}

// csrSpec is what a kubelet puts in its serving CSR; each case changes one thing.
type csrSpec struct {
	key      crypto.Signer
	cn       string
	orgs     []string
	dns      []string
	ips      []string
	emails   []string
	uris     []string
	pemType  string
	tamper   bool // flip a signature byte
	username string
	groups   []string
	signer   string
	usages   []certificatesv1.KeyUsage
}

func kubeletCSR() csrSpec {
	return csrSpec{
		key: ecKey, cn: "system:node:worker-1", orgs: []string{"system:nodes"},
		dns: []string{"worker-1"}, ips: []string{"192.168.10.5", "203.0.113.50"},
		username: "system:node:worker-1", groups: []string{"system:nodes", "system:authenticated"},
		signer: certificatesv1.KubeletServingSignerName, usages: servingUsages,
	}
}

func (s csrSpec) build(t *testing.T) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	tmpl := &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: s.cn, Organization: s.orgs},
		DNSNames:       s.dns,
		EmailAddresses: s.emails,
	}
	for _, ip := range s.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	for _, u := range s.uris {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, s.key)
	if err != nil {
		t.Fatal(err)
	}
	if s.tamper {
		der[len(der)-1] ^= 0xff
	}
	pemType := "CERTIFICATE REQUEST"
	if s.pemType != "" {
		pemType = s.pemType
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-abcde"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der}),
			SignerName: s.signer,
			Usages:     s.usages,
			Username:   s.username,
			Groups:     s.groups,
		},
	}
}

func TestValidServingCSR(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*csrSpec)
		node    func(*corev1.Node)
		wantErr string
	}{
		{name: "ECDSA, as the kubelet asks"},
		{name: "RSA with key encipherment", mutate: func(s *csrSpec) { s.key, s.usages = rsaKey, rsaUsages }},
		{name: "RSA without key encipherment", mutate: func(s *csrSpec) { s.key = rsaKey }},
		{name: "Ed25519", mutate: func(s *csrSpec) { s.key = edKey }},
		{name: "usages in another order", mutate: func(s *csrSpec) {
			s.usages = []certificatesv1.KeyUsage{certificatesv1.UsageServerAuth, certificatesv1.UsageDigitalSignature}
		}},
		{name: "only an IP", mutate: func(s *csrSpec) { s.dns = nil }},
		{name: "only the name", mutate: func(s *csrSpec) { s.ips = nil }},
		{name: "IPv6 and an internal DNS name", mutate: func(s *csrSpec) { s.dns, s.ips = []string{"worker-1.acme.internal"}, []string{"fd00::5"} }},
		{name: "DNS names compare without case", mutate: func(s *csrSpec) { s.dns = []string{"Worker-1"} }},
		{
			name:   "a Hostname that is an IP is an IP SAN, as the kubelet makes it",
			mutate: func(s *csrSpec) { s.dns, s.ips = nil, []string{"10.0.0.9"} },
			node: func(n *corev1.Node) {
				n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "10.0.0.9"}}
			},
		},

		{name: "client signer", mutate: func(s *csrSpec) { s.signer = certificatesv1.KubeAPIServerClientKubeletSignerName }, wantErr: "signer is"},
		{name: "requested by another node", mutate: func(s *csrSpec) { s.username = "system:node:worker-2" }, wantErr: "requested by"},
		{
			name:    "requested by a bootstrap token",
			mutate:  func(s *csrSpec) { s.username, s.groups = "system:bootstrap:abcdef", []string{"system:bootstrappers"} },
			wantErr: "requested by",
		},
		{name: "requester not in system:nodes", mutate: func(s *csrSpec) { s.groups = []string{"system:authenticated"} }, wantErr: "not in group system:nodes"},
		{name: "CN of another node", mutate: func(s *csrSpec) { s.cn = "system:node:worker-2" }, wantErr: "subject CN"},
		{name: "CN without the prefix", mutate: func(s *csrSpec) { s.cn = "worker-1" }, wantErr: "subject CN"},
		{name: "no organisation", mutate: func(s *csrSpec) { s.orgs = nil }, wantErr: "subject O"},
		{name: "system:masters added", mutate: func(s *csrSpec) { s.orgs = []string{"system:nodes", "system:masters"} }, wantErr: "subject O"},
		{name: "client auth usage", mutate: func(s *csrSpec) { s.usages = append(s.usages, certificatesv1.UsageClientAuth) }, wantErr: `usage "client auth"`},
		{name: "key encipherment with an ECDSA key", mutate: func(s *csrSpec) { s.usages = rsaUsages }, wantErr: `usage "key encipherment"`},
		{name: "cert sign", mutate: func(s *csrSpec) { s.usages = append(s.usages, certificatesv1.UsageCertSign) }, wantErr: `usage "cert sign"`},
		{name: "no server auth", mutate: func(s *csrSpec) { s.usages = s.usages[:1] }, wantErr: `usage "server auth" is missing`},
		{name: "no digital signature", mutate: func(s *csrSpec) { s.usages = s.usages[1:] }, wantErr: `usage "digital signature" is missing`},
		{name: "no SAN", mutate: func(s *csrSpec) { s.dns, s.ips = nil, nil }, wantErr: "no DNS or IP SAN"},
		{name: "a foreign DNS name", mutate: func(s *csrSpec) { s.dns = append(s.dns, "kubernetes.default.svc") }, wantErr: `DNS SAN "kubernetes.default.svc"`},
		{name: "a foreign IP", mutate: func(s *csrSpec) { s.ips = append(s.ips, "10.96.0.1") }, wantErr: "IP SAN 10.96.0.1"},
		{name: "an IP written as a DNS name", mutate: func(s *csrSpec) { s.dns = []string{"192.168.10.5"} }, wantErr: `DNS SAN "192.168.10.5"`},
		{name: "an e-mail SAN", mutate: func(s *csrSpec) { s.emails = []string{"root@worker-1"} }, wantErr: "e-mail and URI"},
		{name: "a URI SAN", mutate: func(s *csrSpec) { s.uris = []string{"spiffe://acme/worker-1"} }, wantErr: "e-mail and URI"},
		{name: "not a CSR in the PEM", mutate: func(s *csrSpec) { s.pemType = "CERTIFICATE" }, wantErr: "not a PEM CERTIFICATE REQUEST"},
		{name: "bad signature", mutate: func(s *csrSpec) { s.tamper = true }, wantErr: "request"},
		{
			name:    "node without addresses",
			node:    func(n *corev1.Node) { n.Status.Addresses = nil },
			wantErr: "not an address of the node",
		},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			spec := kubeletCSR()
			if tt.mutate != nil {
				tt.mutate(&spec)
			}
			node := worker()
			if tt.node != nil {
				tt.node(node)
			}
			err := ValidServingCSR(spec.build(t), node)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "csr-abcde") || !strings.Contains(err.Error(), "worker-1") {
				t.Errorf("error %q does not name the CSR and the node", err)
			}
		})
	}
	if err := ValidServingCSR(nil, worker()); err == nil {
		t.Error("a nil CSR passed")
	}
	if err := ValidServingCSR(kubeletCSR().build(t), nil); err == nil {
		t.Error("a nil node passed")
	}
}
