package pki

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// ErrNotIssued is matched (errors.Is) by every error saying that a Secret the PKI needs is
// not issued yet: the controller waits and requeues, it is not a failure.
var ErrNotIssued = errors.New("not issued yet")

// ErrEndpointPending says the published endpoint is not known yet, so the admin kubeconfig
// cannot be written: the controller reports that it waits for the endpoint.
var ErrEndpointPending = errors.New("apiserver endpoint not known yet")

// NotIssuedError names the Secret, or the key in it, that is missing. It matches
// ErrNotIssued.
type NotIssuedError struct {
	// Secret is the missing Secret's name.
	Secret string
	// Key is the missing key; empty when the whole Secret is missing.
	Key string
}

func (e *NotIssuedError) Error() string {
	if e.Key == "" {
		return "Secret " + e.Secret + " is " + ErrNotIssued.Error()
	}
	return "Secret " + e.Secret + " has no " + e.Key + ": " + ErrNotIssued.Error()
}

// Is makes errors.Is(err, ErrNotIssued) true.
func (e *NotIssuedError) Is(target error) bool { return target == ErrNotIssued }

// Kubeconfig is a kubeconfig with one cluster, one user and one context, every credential
// embedded. Its bytes depend only on the arguments: the kubeconfig Secrets are checksummed
// into the pods that mount them, and a spurious change would roll them.
func Kubeconfig(clusterName, server string, caPEM, certPEM, keyPEM []byte, user string) ([]byte, error) {
	if clusterName == "" || user == "" {
		return nil, fmt.Errorf("kubeconfig: cluster name %q and user %q must be set", clusterName, user)
	}
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("kubeconfig for %s: server %q is not an https URL", user, server)
	}
	if _, err := certutil.ParseCertsPEM(caPEM); err != nil {
		return nil, fmt.Errorf("kubeconfig for %s: CA certificate: %w", user, err)
	}
	// Also proves the certificate belongs to the key: a kubeconfig that cannot authenticate
	// is worse than none.
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, fmt.Errorf("kubeconfig for %s: client certificate and key: %w", user, err)
	}

	contextName := user + "@" + clusterName // kubeadm's naming
	cfg := clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{
			clusterName: {Server: server, CertificateAuthorityData: caPEM},
		},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{
			user: {ClientCertificateData: certPEM, ClientKeyData: keyPEM},
		},
		Contexts: map[string]*clientcmdapi.Context{
			contextName: {Cluster: clusterName, AuthInfo: user},
		},
		CurrentContext: contextName,
	}
	if err := clientcmd.Validate(cfg); err != nil {
		return nil, fmt.Errorf("kubeconfig for %s: %w", user, err)
	}
	out, err := clientcmd.Write(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig for %s: %w", user, err)
	}
	return out, nil
}

// KubeconfigSecrets assembles the admin, kube-controller-manager and kube-scheduler
// kubeconfig Secrets, in that order, from the issued Secrets (keyed by name; the controller
// lists them by Labels). server is the published endpoint's URL (Endpoint.URL); empty
// gives an error wrapping ErrEndpointPending. Secrets not issued yet give one error that
// names each of them and matches ErrNotIssued.
func KubeconfigSecrets(tc *v1alpha1.TenantCluster, server string, issued map[string]*corev1.Secret) ([]*corev1.Secret, error) {
	if tc == nil {
		return nil, errors.New("kubeconfigs: nil TenantCluster")
	}
	if server == "" {
		return nil, fmt.Errorf("kubeconfigs of %s/%s: %w", tc.Namespace, tc.Name, ErrEndpointPending)
	}
	r := &reader{issued: issued}
	admin, adminErr := r.admin(tc, server)
	kcm, kcmErr := r.component(tc, controlplane.ControllerManager)
	sched, schedErr := r.component(tc, controlplane.Scheduler)
	// A broken Secret is a failure and wins over one still missing.
	err := errors.Join(adminErr, kcmErr, schedErr)
	if err == nil {
		err = r.err()
	}
	if err != nil {
		return nil, fmt.Errorf("kubeconfigs of %s/%s: %w", tc.Namespace, tc.Name, err)
	}
	return []*corev1.Secret{admin, kcm, sched}, nil
}

// AdminKubeconfigSecret is the Secret controlplane.AdminKubeconfigSecret: a kubeconfig for
// AdminCommonName at the published endpoint, what users and Magnum read. Errors are those
// of KubeconfigSecrets.
func AdminKubeconfigSecret(tc *v1alpha1.TenantCluster, server string, issued map[string]*corev1.Secret) (*corev1.Secret, error) {
	if tc == nil {
		return nil, errors.New("admin kubeconfig: nil TenantCluster")
	}
	if server == "" {
		return nil, fmt.Errorf("admin kubeconfig of %s/%s: %w", tc.Namespace, tc.Name, ErrEndpointPending)
	}
	r := &reader{issued: issued}
	s, err := r.admin(tc, server)
	if err == nil {
		err = r.err()
	}
	if err != nil {
		return nil, fmt.Errorf("admin kubeconfig of %s/%s: %w", tc.Namespace, tc.Name, err)
	}
	return s, nil
}

// ComponentKubeconfigSecret is the kubeconfig Secret of kube-controller-manager or
// kube-scheduler. They dial the apiserver's Service inside the seed, never the published
// endpoint: it works before the endpoint exists and keeps their traffic in the seed.
// Errors are those of KubeconfigSecrets.
func ComponentKubeconfigSecret(tc *v1alpha1.TenantCluster, c controlplane.Component, issued map[string]*corev1.Secret) (*corev1.Secret, error) {
	if tc == nil {
		return nil, errors.New("component kubeconfig: nil TenantCluster")
	}
	r := &reader{issued: issued}
	s, err := r.component(tc, c)
	if err == nil {
		err = r.err()
	}
	if err != nil {
		return nil, fmt.Errorf("%s kubeconfig of %s/%s: %w", c, tc.Namespace, tc.Name, err)
	}
	return s, nil
}

// reader reads issued Secrets and remembers every one missing, so that one error names them
// all.
type reader struct {
	issued  map[string]*corev1.Secret
	missing []*NotIssuedError
}

func (r *reader) admin(tc *v1alpha1.TenantCluster, server string) (*corev1.Secret, error) {
	return r.kubeconfigSecret(tc, controlplane.AdminKubeconfigSecret, AdminClientSecret, AdminCommonName, server)
}

func (r *reader) component(tc *v1alpha1.TenantCluster, c controlplane.Component) (*corev1.Secret, error) {
	server := "https://" + net.JoinHostPort(controlplane.APIServerServiceHost(tc.Name, controlplane.NamespaceOf(tc)), strconv.Itoa(int(controlplane.APIServerPort)))
	switch c {
	case controlplane.ControllerManager:
		return r.kubeconfigSecret(tc, controlplane.ControllerManagerKubeconfigSecret, ControllerManagerClientSecret, ControllerManagerUser, server)
	case controlplane.Scheduler:
		return r.kubeconfigSecret(tc, controlplane.SchedulerKubeconfigSecret, SchedulerClientSecret, SchedulerUser, server)
	default:
		return nil, fmt.Errorf("component %s has no kubeconfig", c)
	}
}

// kubeconfigSecret writes the kubeconfig of the client certificate in Secret client into
// Secret out, under controlplane.KubeconfigKey (the key the chart mounts, and Cluster
// API's). The CA is the cluster CA's own certificate, which the apiserver's serving
// certificate chains to. It returns nil, nil when something is missing.
func (r *reader) kubeconfigSecret(tc *v1alpha1.TenantCluster, out, client controlplane.Secret, user, server string) (*corev1.Secret, error) {
	name, ns := tc.Name, controlplane.NamespaceOf(tc)
	ca := r.get(controlplane.CASecret.Name(name), controlplane.TLSCertKey)
	cert := r.get(client.Name(name), controlplane.TLSCertKey)
	key := r.get(client.Name(name), controlplane.TLSKeyKey)
	if ca == nil || cert == nil || key == nil {
		return nil, nil
	}
	kc, err := Kubeconfig(name, server, ca, cert, key, user)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", out.Name(name), err)
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(name, ns, out.Name(name)),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{controlplane.KubeconfigKey: kc},
	}, nil
}

// get is the value of key in Secret name, or nil, noted as missing.
func (r *reader) get(name, key string) []byte {
	s := r.issued[name]
	if s == nil {
		r.note(&NotIssuedError{Secret: name})
		return nil
	}
	if len(s.Data[key]) == 0 {
		r.note(&NotIssuedError{Secret: name, Key: key})
		return nil
	}
	return s.Data[key]
}

func (r *reader) note(e *NotIssuedError) {
	for _, m := range r.missing {
		if *m == *e {
			return
		}
	}
	r.missing = append(r.missing, e)
}

func (r *reader) err() error {
	switch len(r.missing) {
	case 0:
		return nil
	case 1:
		return r.missing[0]
	default:
		return notIssuedErrors(r.missing)
	}
}

// notIssuedErrors is several NotIssuedErrors on one line, for a condition message.
type notIssuedErrors []*NotIssuedError

func (e notIssuedErrors) Error() string {
	parts := make([]string, len(e))
	for i, m := range e {
		parts[i] = m.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap lets errors.Is and errors.As see each NotIssuedError.
func (e notIssuedErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, m := range e {
		out[i] = m
	}
	return out
}
