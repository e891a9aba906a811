package pki_test

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

func tenant(mut ...func(*v1alpha1.TenantCluster)) *v1alpha1.TenantCluster {
	tc := &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: "project-1"},
		Spec: v1alpha1.TenantClusterSpec{
			Version: "v1.36.3",
			Network: v1alpha1.NetworkSpec{ServiceCIDR: "10.96.0.0/12", PodCIDR: "10.244.0.0/16", DNSDomain: "cluster.local"},
		},
	}
	for _, m := range mut {
		m(tc)
	}
	return tc
}

var endpoint = pki.Endpoint{Host: "203.0.113.10", Port: 6443}

func mustObjects(t *testing.T, tc *v1alpha1.TenantCluster, ep pki.Endpoint, opts ...pki.Option) []client.Object {
	t.Helper()
	objs, err := pki.Objects(tc, ep, opts...)
	if err != nil {
		t.Fatalf("Objects: %v", err)
	}
	return objs
}

// certificates indexes the Certificates of objs by the purpose of their Secret.
func certificates(t *testing.T, cluster string, objs []client.Object) map[controlplane.Secret]*cmv1.Certificate {
	t.Helper()
	out := map[controlplane.Secret]*cmv1.Certificate{}
	for _, obj := range objs {
		if c, ok := obj.(*cmv1.Certificate); ok {
			purpose, found := strings.CutPrefix(c.Spec.SecretName, cluster+"-")
			if !found {
				t.Fatalf("Certificate %s writes Secret %s, not prefixed by %s-", c.Name, c.Spec.SecretName, cluster)
			}
			out[controlplane.Secret(purpose)] = c
		}
	}
	return out
}

func TestObjectsOrderAndKinds(t *testing.T) {
	objs := mustObjects(t, tenant(), endpoint)
	var got []string
	for _, obj := range objs {
		kind := "?"
		switch obj.(type) {
		case *cmv1.Issuer:
			kind = "Issuer"
		case *cmv1.Certificate:
			kind = "Certificate"
		}
		got = append(got, kind+"/"+obj.GetName())
	}
	want := []string{
		"Issuer/acme-selfsigned",
		"Certificate/acme-ca", "Issuer/acme-ca",
		"Certificate/acme-etcd-ca", "Issuer/acme-etcd-ca",
		"Certificate/acme-front-proxy-ca", "Issuer/acme-front-proxy-ca",
		"Certificate/acme-apiserver-tls",
		"Certificate/acme-apiserver-kubelet-client",
		"Certificate/acme-apiserver-etcd-client",
		"Certificate/acme-etcd-server",
		"Certificate/acme-etcd-peer",
		"Certificate/acme-front-proxy-client",
		"Certificate/acme-sa",
		"Certificate/acme-controller-manager-client",
		"Certificate/acme-scheduler-client",
		"Certificate/acme-admin-client",
		"Certificate/acme-autoscaler-client",
		"Certificate/acme-tunnel-server",
	}
	if !slices.Equal(got, want) {
		t.Errorf("objects:\n got %q\nwant %q", got, want)
	}
	// The Certificates are declared in the order of IssuedSecrets.
	var secrets []string
	for _, obj := range objs {
		if c, ok := obj.(*cmv1.Certificate); ok {
			secrets = append(secrets, c.Spec.SecretName)
		}
	}
	var issued []string
	for _, s := range pki.IssuedSecrets {
		issued = append(issued, s.Name("acme"))
	}
	if !slices.Equal(secrets, issued) {
		t.Errorf("Certificate Secrets %q, IssuedSecrets %q", secrets, issued)
	}
}

// TestSecretsMatchControlPlane: every Secret and key the chart mounts is issued by a
// Certificate or assembled as a kubeconfig, and every TLS Secret pkg/controlplane names is
// issued.
func TestSecretsMatchControlPlane(t *testing.T) {
	tc := tenant()
	certs := certificates(t, tc.Name, mustObjects(t, tc, endpoint))
	kubeconfigs := map[string]bool{}
	for _, s := range []controlplane.Secret{controlplane.AdminKubeconfigSecret, controlplane.ControllerManagerKubeconfigSecret, controlplane.SchedulerKubeconfigSecret} {
		kubeconfigs[s.Name(tc.Name)] = true
	}
	for _, s := range controlplane.Secrets {
		if _, issued := certs[s]; !issued && !kubeconfigs[s.Name(tc.Name)] {
			t.Errorf("controlplane Secret %s is neither issued nor a kubeconfig", s.Name(tc.Name))
		}
	}

	values, err := controlplane.ValuesFor(tc, controlplane.Inputs{EndpointHost: endpoint.Host})
	if err != nil {
		t.Fatal(err)
	}
	bySecretName := map[string]*cmv1.Certificate{}
	for _, c := range certs {
		bySecretName[c.Spec.SecretName] = c
	}
	for comp, mounts := range map[controlplane.Component][]controlplane.SecretMount{
		controlplane.Etcd:              values.Etcd.Secrets,
		controlplane.APIServer:         values.APIServer.Secrets,
		controlplane.ControllerManager: values.ControllerManager.Secrets,
		controlplane.Scheduler:         values.Scheduler.Secrets,
		"tunnel-server":                values.Tunnel.Secrets,
	} {
		for _, m := range mounts {
			switch {
			case kubeconfigs[m.SecretName]:
				if !slices.Equal(m.Keys, []string{controlplane.KubeconfigKey}) {
					t.Errorf("%s mounts keys %q of kubeconfig %s; the PKI writes only %s", comp, m.Keys, m.SecretName, controlplane.KubeconfigKey)
				}
			case m.SecretName == controlplane.EncryptionConfigSecret.Name(tc.Name):
				// Not the PKI's: the controller makes it (NewEncryptionConfigSecret).
				if !slices.Equal(m.Keys, []string{controlplane.EncryptionConfigKey}) {
					t.Errorf("%s mounts keys %q of %s, want only %s", comp, m.Keys, m.SecretName, controlplane.EncryptionConfigKey)
				}
			case bySecretName[m.SecretName] != nil:
				for _, k := range m.Keys {
					if k != controlplane.TLSCertKey && k != controlplane.TLSKeyKey && k != controlplane.CACertKey {
						t.Errorf("%s mounts key %s of %s, which cert-manager does not write", comp, k, m.SecretName)
					}
				}
			default:
				t.Errorf("%s mounts Secret %s, which the PKI does not make", comp, m.SecretName)
			}
		}
	}

	// The front proxy's CN is the one the apiserver allows.
	allowed := flagValue(t, values.APIServer.Args, "requestheader-allowed-names")
	if cn := certs[controlplane.FrontProxyClientSecret].Spec.CommonName; cn != allowed {
		t.Errorf("front-proxy-client CN %q, apiserver allows %q", cn, allowed)
	}
	// Every host the apiserver and etcd members dial etcd at is in the etcd server
	// certificate, for every member the API allows.
	server := certs[controlplane.EtcdServerSecret].Spec.DNSNames
	peer := certs[controlplane.EtcdPeerSecret].Spec.DNSNames
	if h := urlHost(flagValue(t, values.APIServer.Args, "etcd-servers")); !slices.Contains(server, h) {
		t.Errorf("etcd server certificate lacks %s (--etcd-servers)", h)
	}
	for i := range 5 {
		pod := controlplane.Etcd.ObjectName(tc.Name) + "-" + string(rune('0'+i))
		if h := urlHost(strings.ReplaceAll(flagValue(t, values.Etcd.Args, "advertise-client-urls"), "$(POD_NAME)", pod)); !slices.Contains(server, h) {
			t.Errorf("etcd server certificate lacks %s (--advertise-client-urls of %s)", h, pod)
		}
		if h := urlHost(strings.ReplaceAll(flagValue(t, values.Etcd.Args, "initial-advertise-peer-urls"), "$(POD_NAME)", pod)); !slices.Contains(peer, h) {
			t.Errorf("etcd peer certificate lacks %s (--initial-advertise-peer-urls of %s)", h, pod)
		}
	}
}

func flagValue(t *testing.T, args []string, name string) string {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	t.Fatalf("no --%s in %q", name, args)
	return ""
}

func urlHost(u string) string {
	h := strings.TrimPrefix(u, "https://")
	if i := strings.LastIndex(h, ":"); i >= 0 {
		h = h[:i]
	}
	return h
}

// TestCertificateSpecs pins what each Certificate is: issuer, subject, usages, key and
// lifetime.
func TestCertificateSpecs(t *testing.T) {
	var (
		never        = cmv1.RotationPolicyNever
		always       = cmv1.RotationPolicyAlways
		ca           = []cmv1.KeyUsage{cmv1.UsageDigitalSignature, cmv1.UsageCertSign, cmv1.UsageCRLSign}
		server       = []cmv1.KeyUsage{cmv1.UsageDigitalSignature, cmv1.UsageServerAuth}
		clientUsages = []cmv1.KeyUsage{cmv1.UsageDigitalSignature, cmv1.UsageClientAuth}
		both         = []cmv1.KeyUsage{cmv1.UsageDigitalSignature, cmv1.UsageServerAuth, cmv1.UsageClientAuth}
	)
	cases := []struct {
		secret   controlplane.Secret
		issuer   string
		cn       string
		orgs     []string
		usages   []cmv1.KeyUsage
		isCA     bool
		alg      cmv1.PrivateKeyAlgorithm
		size     int
		rotation cmv1.PrivateKeyRotationPolicy
		duration time.Duration
	}{
		{controlplane.CASecret, "acme-selfsigned", "kubernetes", nil, ca, true, cmv1.ECDSAKeyAlgorithm, 256, never, pki.CADuration},
		{controlplane.EtcdCASecret, "acme-selfsigned", "etcd-ca", nil, ca, true, cmv1.ECDSAKeyAlgorithm, 256, never, pki.CADuration},
		{controlplane.FrontProxyCASecret, "acme-selfsigned", "front-proxy-ca", nil, ca, true, cmv1.ECDSAKeyAlgorithm, 256, never, pki.CADuration},
		{controlplane.APIServerTLSSecret, "acme-ca", "kube-apiserver", nil, server, false, cmv1.ECDSAKeyAlgorithm, 256, always, pki.LeafDuration},
		{controlplane.APIServerKubeletClientSecret, "acme-ca", "kube-apiserver-kubelet-client", []string{"system:masters"}, clientUsages, false, cmv1.ECDSAKeyAlgorithm, 256, always, pki.LeafDuration},
		{controlplane.APIServerEtcdClientSecret, "acme-etcd-ca", "kube-apiserver-etcd-client", nil, clientUsages, false, cmv1.ECDSAKeyAlgorithm, 256, always, pki.LeafDuration},
		{controlplane.EtcdServerSecret, "acme-etcd-ca", "acme-etcd", nil, both, false, cmv1.ECDSAKeyAlgorithm, 256, always, pki.LeafDuration},
		{controlplane.EtcdPeerSecret, "acme-etcd-ca", "acme-etcd", nil, both, false, cmv1.ECDSAKeyAlgorithm, 256, always, pki.LeafDuration},
		{controlplane.FrontProxyClientSecret, "acme-front-proxy-ca", controlplane.FrontProxyClientCommonName, nil, clientUsages, false, cmv1.ECDSAKeyAlgorithm, 256, always, pki.LeafDuration},
		{controlplane.ServiceAccountSecret, "acme-selfsigned", "service-accounts", nil, []cmv1.KeyUsage{cmv1.UsageDigitalSignature}, false, cmv1.RSAKeyAlgorithm, 2048, never, pki.CADuration},
		{pki.ControllerManagerClientSecret, "acme-ca", "system:kube-controller-manager", nil, clientUsages, false, cmv1.ECDSAKeyAlgorithm, 256, always, pki.LeafDuration},
		{pki.SchedulerClientSecret, "acme-ca", "system:kube-scheduler", nil, clientUsages, false, cmv1.ECDSAKeyAlgorithm, 256, always, pki.LeafDuration},
		{pki.AdminClientSecret, "acme-ca", "kubernetes-admin", []string{"system:masters"}, clientUsages, false, cmv1.ECDSAKeyAlgorithm, 256, always, pki.LeafDuration},
		// No group: the tenant's RBAC grants the user exactly what the autoscaler needs.
		{controlplane.AutoscalerClientSecret, "acme-ca", "kubeseed:autoscaler", nil, clientUsages, false, cmv1.ECDSAKeyAlgorithm, 256, always, pki.LeafDuration},
		// A client too: it reads the Nodes agents claim to be.
		{controlplane.TunnelServerSecret, "acme-ca", pki.TunnelServerCommonName, nil, both, false, cmv1.ECDSAKeyAlgorithm, 256, always, pki.LeafDuration},
	}
	certs := certificates(t, "acme", mustObjects(t, tenant(), endpoint))
	if len(certs) != len(cases) {
		t.Errorf("%d Certificates, %d cases", len(certs), len(cases))
	}
	for _, c := range cases {
		t.Run(string(c.secret), func(t *testing.T) {
			cert := certs[c.secret]
			if cert == nil {
				t.Fatalf("no Certificate for Secret %s", c.secret.Name("acme"))
			}
			s := cert.Spec
			if s.IssuerRef.Name != c.issuer || s.IssuerRef.Kind != cmv1.IssuerKind || s.IssuerRef.Group != "cert-manager.io" {
				t.Errorf("issuerRef %+v, want Issuer %s", s.IssuerRef, c.issuer)
			}
			if s.CommonName != c.cn {
				t.Errorf("commonName %q, want %q", s.CommonName, c.cn)
			}
			var orgs []string
			if s.Subject != nil {
				orgs = s.Subject.Organizations
			}
			if !slices.Equal(orgs, c.orgs) {
				t.Errorf("organizations %q, want %q", orgs, c.orgs)
			}
			if !slices.Equal(s.Usages, c.usages) {
				t.Errorf("usages %q, want %q", s.Usages, c.usages)
			}
			if s.IsCA != c.isCA {
				t.Errorf("isCA %v, want %v", s.IsCA, c.isCA)
			}
			pk := s.PrivateKey
			if pk == nil || pk.Algorithm != c.alg || pk.Size != c.size || pk.RotationPolicy != c.rotation {
				t.Errorf("privateKey %+v, want %s %d rotation %s", pk, c.alg, c.size, c.rotation)
			}
			wantRenew := pki.LeafRenewBefore
			if c.duration == pki.CADuration {
				wantRenew = pki.CARenewBefore
			}
			if s.Duration == nil || s.Duration.Duration != c.duration || s.RenewBefore == nil || s.RenewBefore.Duration != wantRenew {
				t.Errorf("duration %v renewBefore %v, want %v and %v", s.Duration, s.RenewBefore, c.duration, wantRenew)
			}
			if s.RenewBefore != nil && s.Duration != nil && s.RenewBefore.Duration >= s.Duration.Duration {
				t.Errorf("renewBefore %v is not shorter than duration %v", s.RenewBefore, s.Duration)
			}
		})
	}
	// Renewing the CAs before any leaf they signed could outlive them.
	if pki.CARenewBefore <= pki.LeafDuration {
		t.Errorf("CARenewBefore %v must exceed LeafDuration %v", pki.CARenewBefore, pki.LeafDuration)
	}
}

func TestIssuers(t *testing.T) {
	objs := mustObjects(t, tenant(), endpoint)
	issuers := map[string]*cmv1.Issuer{}
	for _, obj := range objs {
		if i, ok := obj.(*cmv1.Issuer); ok {
			issuers[i.Name] = i
		}
	}
	if i := issuers["acme-selfsigned"]; i == nil || i.Spec.SelfSigned == nil || i.Spec.CA != nil {
		t.Errorf("self-signed Issuer: %+v", i)
	}
	for _, s := range []controlplane.Secret{controlplane.CASecret, controlplane.EtcdCASecret, controlplane.FrontProxyCASecret} {
		i := issuers[s.Name("acme")]
		if i == nil || i.Spec.CA == nil || i.Spec.CA.SecretName != s.Name("acme") {
			t.Errorf("CA Issuer %s: %+v", s.Name("acme"), i)
		}
	}
	// Every Certificate's issuer exists and is declared before it.
	seen := map[string]bool{}
	for _, obj := range objs {
		switch o := obj.(type) {
		case *cmv1.Issuer:
			seen[o.Name] = true
		case *cmv1.Certificate:
			if !seen[o.Spec.IssuerRef.Name] {
				t.Errorf("Certificate %s: Issuer %s not declared before it", o.Name, o.Spec.IssuerRef.Name)
			}
		}
	}
}

func TestMetadata(t *testing.T) {
	want := map[string]string{"kubeseed.io/tenant-cluster": "acme", "app.kubernetes.io/part-of": "kubeseed"}
	if got := pki.Labels("acme"); !maps.Equal(got, want) {
		t.Errorf("Labels = %v, want %v", got, want)
	}
	for _, obj := range mustObjects(t, tenant(), endpoint) {
		if obj.GetNamespace() != "kubeseed-project-1-acme-a2683d4d1a" || !strings.HasPrefix(obj.GetName(), "acme-") {
			t.Errorf("%s/%s: not in the tenant's namespace with its prefix", obj.GetNamespace(), obj.GetName())
		}
		if !maps.Equal(obj.GetLabels(), want) {
			t.Errorf("%s labels %v, want %v", obj.GetName(), obj.GetLabels(), want)
		}
		if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.Group != "cert-manager.io" || gvk.Version != "v1" || gvk.Kind == "" {
			t.Errorf("%s has no cert-manager.io/v1 kind: %v", obj.GetName(), gvk)
		}
		if c, ok := obj.(*cmv1.Certificate); ok {
			if c.Spec.SecretTemplate == nil || !maps.Equal(c.Spec.SecretTemplate.Labels, want) {
				t.Errorf("Certificate %s: secretTemplate %+v lacks the labels", c.Name, c.Spec.SecretTemplate)
			}
			if c.Spec.SecretName != c.Name {
				t.Errorf("Certificate %s writes Secret %s: they share a name", c.Name, c.Spec.SecretName)
			}
		}
	}
}

// TestObjectsDeterministic: same input, same bytes; the order of certSANs does not matter;
// no two objects share a map.
func TestObjectsDeterministic(t *testing.T) {
	sans := []string{"b.example", "192.0.2.1", "a.example", "2001:db8::1"}
	tc := tenant(func(tc *v1alpha1.TenantCluster) { tc.Spec.ControlPlane.APIServer.CertSANs = sans })
	reversed := tenant(func(tc *v1alpha1.TenantCluster) {
		tc.Spec.ControlPlane.APIServer.CertSANs = slices.Clone(sans)
		slices.Reverse(tc.Spec.ControlPlane.APIServer.CertSANs)
	})
	first := marshal(t, mustObjects(t, tc, endpoint))
	for range 5 {
		if again := marshal(t, mustObjects(t, tc, endpoint)); again != first {
			t.Fatal("Objects is not deterministic")
		}
	}
	if other := marshal(t, mustObjects(t, reversed, endpoint)); other != first {
		t.Error("reordering certSANs changes the objects")
	}

	objs := mustObjects(t, tc, endpoint)
	objs[0].GetLabels()["mutated"] = "yes"
	for _, obj := range objs[1:] {
		if _, shared := obj.GetLabels()["mutated"]; shared {
			t.Fatalf("%s shares its labels map with another object", obj.GetName())
		}
	}
}

func marshal(t *testing.T, objs []client.Object) string {
	t.Helper()
	b, err := json.Marshal(objs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestObjectsInvalid(t *testing.T) {
	cases := []struct {
		name     string
		tc       *v1alpha1.TenantCluster
		endpoint pki.Endpoint
		field    string // of the *InvalidSpecError; empty for another error
	}{
		{"bad certSAN", tenant(func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.APIServer.CertSANs = []string{"ok.example", "not a name"}
		}), endpoint, "spec.controlPlane.apiServer.certSANs"},
		{"bad certSAN, endpoint pending", tenant(func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.APIServer.CertSANs = []string{"-bad-.example"}
		}), pki.Endpoint{}, "spec.controlPlane.apiServer.certSANs"},
		{"zoned IP certSAN", tenant(func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.APIServer.CertSANs = []string{"fe80::1%eth0"}
		}), endpoint, "spec.controlPlane.apiServer.certSANs"},
		{"bad service CIDR", tenant(func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.ServiceCIDR = "10.96.0.0" }), endpoint, "spec.network.serviceCIDR"},
		{"no room in service CIDR", tenant(func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.ServiceCIDR = "10.96.0.0/32" }), endpoint, "spec.network.serviceCIDR"},
		{"bad name", tenant(func(tc *v1alpha1.TenantCluster) { tc.Name = "Acme" }), endpoint, "metadata.name"},
		{"long name", tenant(func(tc *v1alpha1.TenantCluster) { tc.Name = strings.Repeat("a", 41) }), endpoint, "metadata.name"},
		{"no namespace", tenant(func(tc *v1alpha1.TenantCluster) { tc.Namespace = "" }), endpoint, "metadata.namespace"},
		{"bad endpoint host", tenant(), pki.Endpoint{Host: "bad host", Port: 6443}, ""},
		{"wildcard endpoint host", tenant(), pki.Endpoint{Host: "*.example.com", Port: 6443}, ""},
		{"nil", nil, endpoint, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs, err := pki.Objects(c.tc, c.endpoint)
			if err == nil || objs != nil {
				t.Fatalf("Objects = %d objects, %v; want an error", len(objs), err)
			}
			var invalid *controlplane.InvalidSpecError
			if isInvalid := errors.As(err, &invalid); isInvalid != (c.field != "") || (isInvalid && invalid.Field != c.field) {
				t.Errorf("error %q: want InvalidSpecError on %q", err, c.field)
			}
		})
	}
}

// TestDefaultsAgreeWithCRD: a TenantCluster built in Go without network fields gets the PKI
// the API server's defaults would give it.
func TestDefaultsAgreeWithCRD(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "kubeseed.io_tenantclusters.yaml"))
	if err != nil {
		t.Fatalf("read CRD: %v", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatalf("parse CRD: %v", err)
	}
	network := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["network"].Properties
	def := func(field string) string {
		d := network[field].Default
		if d == nil {
			t.Fatalf("CRD has no default for spec.network.%s", field)
		}
		return strings.Trim(string(d.Raw), `"`)
	}
	defaulted := tenant(func(tc *v1alpha1.TenantCluster) {
		tc.Spec.Network = v1alpha1.NetworkSpec{ServiceCIDR: def("serviceCIDR"), PodCIDR: def("podCIDR"), DNSDomain: def("dnsDomain")}
	})
	bare := tenant(func(tc *v1alpha1.TenantCluster) { tc.Spec.Network = v1alpha1.NetworkSpec{} })
	if marshal(t, mustObjects(t, bare, endpoint)) != marshal(t, mustObjects(t, defaulted, endpoint)) {
		t.Error("the PKI of a TenantCluster without network fields differs from one with the CRD's defaults")
	}
}
