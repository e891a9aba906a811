package pki

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cert-manager/cert-manager/pkg/apis/certmanager"
	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// Lifetimes of the issued certificates.
const (
	// CADuration is the lifetime of the three CAs. Workers, kubeconfigs and users hold the
	// CA certificate, so it is long-lived.
	CADuration = 10 * 365 * 24 * time.Hour
	// CARenewBefore renews a CA two years before it expires: more than LeafDuration, so
	// every leaf the old CA certificate signed expires before that certificate does (the
	// CA issuer does not cap a leaf at its CA's notAfter), and clients holding the old CA
	// certificate have years to pick up the renewed one.
	CARenewBefore = 2 * 365 * 24 * time.Hour
	// LeafDuration is the lifetime of every serving and client certificate.
	LeafDuration = 365 * 24 * time.Hour
	// LeafRenewBefore leaves a month to notice and fix a failed renewal.
	LeafRenewBefore = 30 * 24 * time.Hour
)

// Secrets of client certificates that no pod mounts: they exist only to be assembled into
// the kubeconfig Secrets of pkg/controlplane. Their names follow its "<cluster>-<purpose>".
const (
	// ControllerManagerClientSecret is the kube-controller-manager's client certificate.
	ControllerManagerClientSecret controlplane.Secret = "controller-manager-client"
	// SchedulerClientSecret is the kube-scheduler's client certificate.
	SchedulerClientSecret controlplane.Secret = "scheduler-client"
	// AdminClientSecret is the client certificate of the admin kubeconfig.
	AdminClientSecret controlplane.Secret = "admin-client"
)

// IssuedSecrets lists every Secret cert-manager writes for a TenantCluster, in the order
// Objects declares their Certificates. The kubeconfig Secrets are not in it: kubeseed
// writes those.
var IssuedSecrets = []controlplane.Secret{
	controlplane.CASecret, controlplane.EtcdCASecret, controlplane.FrontProxyCASecret,
	controlplane.APIServerTLSSecret, controlplane.APIServerKubeletClientSecret, controlplane.APIServerEtcdClientSecret,
	controlplane.EtcdServerSecret, controlplane.EtcdPeerSecret, controlplane.FrontProxyClientSecret,
	controlplane.ServiceAccountSecret,
	ControllerManagerClientSecret, SchedulerClientSecret, AdminClientSecret,
	controlplane.AutoscalerClientSecret, controlplane.TunnelServerSecret,
}

// Subjects of the client certificates: what the tenant's authorizers see.
const (
	// SystemMastersGroup is the group the tenant's apiserver lets do anything, whatever
	// RBAC says. Only the kubelet client and admin certificates carry it.
	SystemMastersGroup = "system:masters"
	// APIServerKubeletClientCommonName is kubeadm's user for the apiserver at kubelets. Its
	// group is SystemMastersGroup, as in kubeadm before 1.29: kubeadm's
	// kubeadm:cluster-admins, or a binding to system:kubelet-api-admin, needs RBAC made
	// inside the tenant after its apiserver is up, and a tenant admin deleting it would
	// break logs, exec and port-forward. It grants nothing new: the only pod that mounts
	// this Secret is the apiserver, which mounts the etcd client certificate too.
	APIServerKubeletClientCommonName = "kube-apiserver-kubelet-client"
	// APIServerEtcdClientCommonName is kubeadm's name for the apiserver at etcd; etcd's
	// own auth is off, so only the etcd CA matters.
	APIServerEtcdClientCommonName = "kube-apiserver-etcd-client"
	// ControllerManagerUser is the user the tenant's default RBAC grants the
	// kube-controller-manager's permissions to.
	ControllerManagerUser = "system:kube-controller-manager"
	// SchedulerUser is the user the tenant's default RBAC grants the kube-scheduler's
	// permissions to.
	SchedulerUser = "system:kube-scheduler"
	// AutoscalerUser is the autoscaler's user in the tenant: the tenant-addons chart's
	// ClusterRole kubeseed:autoscaler grants it what the autoscaler reads and writes. Its
	// certificate is issued for every tenant, autoscaled or not, so that a pool that starts
	// autoscaling never has its tenant wait for certificates.
	AutoscalerUser = "kubeseed:autoscaler"
	// AdminCommonName is the admin kubeconfig's user. Its group is SystemMastersGroup, not
	// kubeadm's kubeadm:cluster-admins (admin.conf since 1.29), which works only once a
	// ClusterRoleBinding exists in the tenant: kubeseed bootstraps the tenant, RBAC
	// included, with this kubeconfig, like kubeadm does with super-admin.conf. It cannot be
	// revoked short of a new cluster CA key; it stays in a Secret of the tenant's namespace.
	AdminCommonName = "kubernetes-admin"
	// TunnelServerCommonName is the tunnel server certificate's common name: agents check
	// its SANs, not this, and the tenant's RBAC lets this user get nodes (the addons'
	// ClusterRole kubeseed:tunnel-server), which the server checks agents against. Agents
	// authenticate with their kubelets' certificates: no certificate of kubeseed's.
	TunnelServerCommonName = "kubeseed-tunnel-server"
)

// DefaultSeedClusterDomain is the seed cluster's DNS domain, in the seed-side names of the
// apiserver and etcd Services.
const DefaultSeedClusterDomain = "cluster.local"

// maxEtcdMembers is the largest etcd the API allows (spec.controlPlane.etcd.replicas is 1, 3
// or 5). The etcd certificates name every possible member, so scaling up needs no reissue
// and no wildcard: names under the headless Service are exactly the StatefulSet's pods.
const maxEtcdMembers = 5

// The CRD's defaults, for TenantClusters built in Go that never saw the API server.
// TestDefaultsAgreeWithCRD keeps them equal.
const (
	defaultServiceCIDR = "10.96.0.0/12"
	defaultDNSDomain   = "cluster.local"
)

// Endpoint is where the tenant's kube-apiserver is published: a load balancer's or a
// node's address and the port clients dial.
type Endpoint struct {
	// Host is an IP address or a DNS name; empty while it is not allocated yet.
	Host string
	// Port is the published port: 6443 behind a load balancer, the node port otherwise.
	Port int32
}

// URL is the endpoint as a kubeconfig server, "https://host:port"; empty while Host is.
func (e Endpoint) URL() string {
	if e.Host == "" {
		return ""
	}
	return "https://" + net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
}

// Option adjusts Objects.
type Option func(*options)

type options struct {
	seedDomain string
}

// WithSeedClusterDomain sets the seed's cluster DNS domain (DefaultSeedClusterDomain when
// empty or not given).
func WithSeedClusterDomain(domain string) Option {
	return func(o *options) {
		if domain != "" {
			o.seedDomain = domain
		}
	}
}

// SelfSignedIssuerName is the Issuer that signs the three CAs and the service-account key
// pair. Every other Issuer is named after its CA's Secret (and Certificate).
func SelfSignedIssuerName(cluster string) string { return cluster + "-selfsigned" }

// Labels are carried by every object of the PKI and by every Secret cert-manager issues for
// it. cert-manager does not owner-reference its Secrets: the labels are how the controller
// finds them, and deletes them with the TenantCluster.
func Labels(cluster string) map[string]string {
	return map[string]string{
		controlplane.LabelPartOf:        controlplane.PartOf,
		controlplane.LabelTenantCluster: cluster,
	}
}

// Objects is the PKI of tc, in tc's namespace: a self-signed Issuer, the cluster, etcd and
// front-proxy CAs each with its CA Issuer, and every leaf Certificate, each into the Secret
// pkg/controlplane names. The order is fixed: Issuers before what they sign, leaves in the
// order of IssuedSecrets.
//
// The apiserver and tunnel serving certificates name the published endpoint, so they are
// left out while endpoint.Host is empty and everything else is returned: the CAs and other leaves are
// issued while the load balancer comes up. The caller reports "waiting for endpoint" then;
// should it prune the Certificate meanwhile, cert-manager keeps its Secret, and the
// re-created Certificate adopts it without reissuing.
//
// A spec that retrying cannot fix comes back as an error wrapping
// *controlplane.InvalidSpecError.
func Objects(tc *v1alpha1.TenantCluster, endpoint Endpoint, opts ...Option) ([]client.Object, error) {
	if tc == nil {
		return nil, errors.New("build PKI objects: nil TenantCluster")
	}
	o := options{seedDomain: DefaultSeedClusterDomain}
	for _, opt := range opts {
		opt(&o)
	}
	objs, err := objects(tc, endpoint, o)
	if err != nil {
		return nil, fmt.Errorf("build PKI objects of %s/%s: %w", tc.Namespace, tc.Name, err)
	}
	return objs, nil
}

// key is a private key type. ECDSA P-256 for every X.509 certificate: every Kubernetes
// component, etcd and kubectl take it, handshakes are cheaper than RSA's for an apiserver
// every kubelet and pod talks to, and keys are generated in microseconds on renewal. RSA
// 2048 for the service-account key only: it signs JWTs, and RS256 is the one algorithm every
// OIDC relying party must accept (OIDC Discovery), e.g. clouds federating the tenant's
// service-account issuer.
type key struct {
	algorithm cmv1.PrivateKeyAlgorithm
	size      int
}

var (
	ecdsaP256 = key{cmv1.ECDSAKeyAlgorithm, 256}
	rsa2048   = key{cmv1.RSAKeyAlgorithm, 2048}
)

// Usages. Digital signature only: an ECDSA key cannot encipher, and TLS 1.3 and ECDHE never
// encipher with the certificate's key.
var (
	caUsages     = []cmv1.KeyUsage{cmv1.UsageDigitalSignature, cmv1.UsageCertSign, cmv1.UsageCRLSign}
	serverUsages = []cmv1.KeyUsage{cmv1.UsageDigitalSignature, cmv1.UsageServerAuth}
	clientUsages = []cmv1.KeyUsage{cmv1.UsageDigitalSignature, cmv1.UsageClientAuth}
	// etcd dials its own client port with its serving certificate (the gRPC gateway), and
	// a peer certificate is both ends of the peer connection.
	serverClientUsages = []cmv1.KeyUsage{cmv1.UsageDigitalSignature, cmv1.UsageServerAuth, cmv1.UsageClientAuth}
	// The service-account "certificate" only carries the public key that verifies tokens;
	// it must not be usable for TLS.
	signingUsages = []cmv1.KeyUsage{cmv1.UsageDigitalSignature}
)

// certSpec is one Certificate of the PKI.
type certSpec struct {
	secret      controlplane.Secret
	issuer      string
	commonName  string
	orgs        []string
	dnsNames    []string
	ipAddresses []string
	usages      []cmv1.KeyUsage
	isCA        bool
	key         key
	// rotation is Never for keys others pin: the CAs (their key hash is in every worker's
	// join configuration; keeping it makes a renewed CA certificate verify everything the
	// old one signed, and the reverse) and the service-account key.
	rotation    cmv1.PrivateKeyRotationPolicy
	duration    time.Duration
	renewBefore time.Duration
}

func objects(tc *v1alpha1.TenantCluster, endpoint Endpoint, o options) ([]client.Object, error) {
	name, ns := tc.Name, controlplane.NamespaceOf(tc)
	if errs := validation.IsDNS1035Label(name); len(errs) > 0 || len(name) > controlplane.MaxNameLength {
		return nil, &controlplane.InvalidSpecError{Field: "metadata.name", Detail: fmt.Sprintf("must be a DNS-1035 label of at most %d characters", controlplane.MaxNameLength)}
	}
	if tc.Namespace == "" {
		return nil, &controlplane.InvalidSpecError{Field: "metadata.namespace", Detail: "must be set"}
	}
	if errs := validation.IsDNS1123Subdomain(o.seedDomain); len(errs) > 0 {
		return nil, fmt.Errorf("seed cluster domain %q: %s", o.seedDomain, strings.Join(errs, "; "))
	}

	selfSigned := SelfSignedIssuerName(name)
	clusterCA := controlplane.CASecret.Name(name)
	etcdCA := controlplane.EtcdCASecret.Name(name)
	frontProxyCA := controlplane.FrontProxyCASecret.Name(name)

	ca := func(s controlplane.Secret, cn string) certSpec {
		return certSpec{
			secret: s, issuer: selfSigned, commonName: cn, usages: caUsages, isCA: true,
			key: ecdsaP256, rotation: cmv1.RotationPolicyNever, duration: CADuration, renewBefore: CARenewBefore,
		}
	}
	leaf := func(s controlplane.Secret, issuer, cn string, usages []cmv1.KeyUsage) certSpec {
		return certSpec{
			secret: s, issuer: issuer, commonName: cn, usages: usages,
			key: ecdsaP256, rotation: cmv1.RotationPolicyAlways, duration: LeafDuration, renewBefore: LeafRenewBefore,
		}
	}

	objs := []client.Object{selfSignedIssuer(name, ns)}
	// kubeadm's CA common names.
	for _, c := range []certSpec{
		ca(controlplane.CASecret, "kubernetes"),
		ca(controlplane.EtcdCASecret, "etcd-ca"),
		ca(controlplane.FrontProxyCASecret, "front-proxy-ca"),
	} {
		// A CA the tenant brings is a Secret the controller copies (ProvidedCASecret):
		// no Certificate makes it, its Issuer signs from it the same way.
		if !provides(tc, c.secret) {
			objs = append(objs, certificate(name, ns, c))
		}
		objs = append(objs, caIssuer(name, ns, c.secret))
	}

	// Built even while the endpoint is pending, so that a bad spec is reported at once.
	apiServer, err := apiServerCert(tc, endpoint.Host, o.seedDomain)
	if err != nil {
		return nil, err
	}
	tunnelServer, err := tunnelServerCert(tc, endpoint.Host, o.seedDomain)
	if err != nil {
		return nil, err
	}
	if endpoint.Host != "" {
		objs = append(objs, certificate(name, ns, apiServer))
	}

	kubeletClient := leaf(controlplane.APIServerKubeletClientSecret, clusterCA, APIServerKubeletClientCommonName, clientUsages)
	kubeletClient.orgs = []string{SystemMastersGroup}

	etcdServer := leaf(controlplane.EtcdServerSecret, etcdCA, controlplane.Etcd.ObjectName(name), serverClientUsages)
	etcdServer.dnsNames, etcdServer.ipAddresses = etcdServerSANs(name, ns, o.seedDomain)
	etcdPeer := leaf(controlplane.EtcdPeerSecret, etcdCA, controlplane.Etcd.ObjectName(name), serverClientUsages)
	etcdPeer.dnsNames = etcdMemberNames(name, ns, o.seedDomain)

	// Re-issuing with the same key keeps every token valid: the apiserver verifies tokens
	// with the public key in tls.crt, so a new key would invalidate every token already
	// handed out (service-account token Secrets, tokens held outside the cluster, and the
	// projected tokens of every pod until the kubelet refreshes them). Its certificate is
	// self-signed: no CA vouches for it, so it can never pass as a TLS client. Nothing
	// reads its validity, hence the CA lifetime, which spares a yearly apiserver rollout.
	sa := certSpec{
		secret: controlplane.ServiceAccountSecret, issuer: selfSigned, commonName: "service-accounts",
		usages: signingUsages, key: rsa2048, rotation: cmv1.RotationPolicyNever,
		duration: CADuration, renewBefore: CARenewBefore,
	}

	admin := leaf(AdminClientSecret, clusterCA, AdminCommonName, clientUsages)
	admin.orgs = []string{SystemMastersGroup}

	for _, c := range []certSpec{
		kubeletClient,
		leaf(controlplane.APIServerEtcdClientSecret, etcdCA, APIServerEtcdClientCommonName, clientUsages),
		etcdServer,
		etcdPeer,
		leaf(controlplane.FrontProxyClientSecret, frontProxyCA, controlplane.FrontProxyClientCommonName, clientUsages),
		sa,
		leaf(ControllerManagerClientSecret, clusterCA, ControllerManagerUser, clientUsages),
		leaf(SchedulerClientSecret, clusterCA, SchedulerUser, clientUsages),
		admin,
		leaf(controlplane.AutoscalerClientSecret, clusterCA, AutoscalerUser, clientUsages),
	} {
		objs = append(objs, certificate(name, ns, c))
	}
	// The tunnel (docs/tunnel.md): its server beside the apiserver, its agents in the tenant.
	if endpoint.Host != "" {
		objs = append(objs, certificate(name, ns, tunnelServer))
	}
	return objs, nil
}

func objectMeta(cluster, ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: Labels(cluster)}
}

func selfSignedIssuer(cluster, ns string) *cmv1.Issuer {
	return &cmv1.Issuer{
		TypeMeta:   metav1.TypeMeta{APIVersion: cmv1.SchemeGroupVersion.String(), Kind: cmv1.IssuerKind},
		ObjectMeta: objectMeta(cluster, ns, SelfSignedIssuerName(cluster)),
		Spec:       cmv1.IssuerSpec{IssuerConfig: cmv1.IssuerConfig{SelfSigned: &cmv1.SelfSignedIssuer{}}},
	}
}

// caIssuer signs with the CA in Secret s; it shares the Secret's name.
func caIssuer(cluster, ns string, s controlplane.Secret) *cmv1.Issuer {
	return &cmv1.Issuer{
		TypeMeta:   metav1.TypeMeta{APIVersion: cmv1.SchemeGroupVersion.String(), Kind: cmv1.IssuerKind},
		ObjectMeta: objectMeta(cluster, ns, s.Name(cluster)),
		Spec:       cmv1.IssuerSpec{IssuerConfig: cmv1.IssuerConfig{CA: &cmv1.CAIssuer{SecretName: s.Name(cluster)}}},
	}
}

// certificate is named after its Secret. Every field cert-manager would default is set, so
// server-side apply of the same spec is a no-op whatever cert-manager's version defaults
// (rotationPolicy's default flipped in 1.18).
func certificate(cluster, ns string, c certSpec) *cmv1.Certificate {
	name := c.secret.Name(cluster)
	var subject *cmv1.X509Subject
	if len(c.orgs) > 0 {
		subject = &cmv1.X509Subject{Organizations: slices.Clone(c.orgs)}
	}
	return &cmv1.Certificate{
		TypeMeta:   metav1.TypeMeta{APIVersion: cmv1.SchemeGroupVersion.String(), Kind: cmv1.CertificateKind},
		ObjectMeta: objectMeta(cluster, ns, name),
		Spec: cmv1.CertificateSpec{
			SecretName:     name,
			SecretTemplate: &cmv1.CertificateSecretTemplate{Labels: Labels(cluster)},
			IssuerRef:      cmmeta.IssuerReference{Name: c.issuer, Kind: cmv1.IssuerKind, Group: certmanager.GroupName},
			CommonName:     c.commonName,
			Subject:        subject,
			DNSNames:       slices.Clone(c.dnsNames),
			IPAddresses:    slices.Clone(c.ipAddresses),
			Usages:         slices.Clone(c.usages),
			IsCA:           c.isCA,
			Duration:       &metav1.Duration{Duration: c.duration},
			RenewBefore:    &metav1.Duration{Duration: c.renewBefore},
			PrivateKey: &cmv1.CertificatePrivateKey{
				Algorithm:      c.key.algorithm,
				Size:           c.key.size,
				Encoding:       cmv1.PKCS1,
				RotationPolicy: c.rotation,
			},
			// Only the current request is worth keeping around.
			RevisionHistoryLimit: ptr.To[int32](1),
		},
	}
}
