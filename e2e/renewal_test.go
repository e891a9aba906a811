//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

// testLeafRenewal renews the apiserver's serving certificate, etcd's serving and peer
// certificates, the apiserver's client certificates (etcd, kubelets, front proxy) and the
// controller-manager's, the way cmctl renew does, under a client that makes a request every
// 100 ms on a new TLS connection each. No request may fail; the apiserver and etcd serve the
// new certificates from the pods they ran in before (they read renewed files).
func testLeafRenewal(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, cfg *rest.Config) {
	cpns := controlplane.NamespaceOf(tc)
	renewed := []controlplane.Secret{
		controlplane.APIServerTLSSecret, controlplane.EtcdServerSecret, controlplane.EtcdPeerSecret,
		controlplane.APIServerEtcdClientSecret, controlplane.APIServerKubeletClientSecret,
		controlplane.FrontProxyClientSecret, pki.ControllerManagerClientSecret,
	}
	serials := func() map[controlplane.Secret]string {
		out := map[controlplane.Secret]string{}
		for _, s := range renewed {
			sec, err := clients.CoreV1().Secrets(cpns).Get(ctx, s.Name(tc.Name), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			out[s] = serialOf(t, sec.Data[controlplane.TLSCertKey])
		}
		return out
	}
	// The pods that must live through the renewal, with their restart counts.
	steady := func() map[string]int32 {
		pods, err := clients.CoreV1().Pods(cpns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int32{}
		for _, p := range pods.Items {
			if c := p.Labels[controlplane.LabelComponent]; c != string(controlplane.Etcd) && c != string(controlplane.APIServer) {
				continue
			}
			var restarts int32
			for _, s := range p.Status.ContainerStatuses {
				restarts += s.RestartCount
			}
			out[string(p.UID)+" "+p.Name] = restarts
		}
		return out
	}
	// What the renewal must not change: the pod templates' checksum/pki (a change would
	// roll the pods, maybe after this test looked at them).
	templates := func() string {
		d, err := clients.AppsV1().Deployments(cpns).Get(ctx, controlplane.APIServer.ObjectName(tc.Name), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sts, err := clients.AppsV1().StatefulSets(cpns).Get(ctx, controlplane.Etcd.ObjectName(tc.Name), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("apiserver %s, etcd %s", d.Spec.Template.Annotations["checksum/pki"], sts.Spec.Template.Annotations["checksum/pki"])
	}
	before, podsBefore, templatesBefore := serials(), steady(), templates()
	if len(podsBefore) < 2 {
		t.Fatalf("etcd and apiserver pods of %s: %v", tc.Name, podsBefore)
	}

	// The steady client: one request every 100 ms, each on a new TLS connection over
	// HTTP/1.1 without keep-alives (client-go would keep one HTTP/2 connection for all), so
	// each handshake meets whatever certificate the apiserver serves at that moment.
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var handshakes, onRenewed atomic.Int64
	var renewedServing atomic.Value // the serial of the renewed serving certificate, once known
	renewedServing.Store("")
	tlsCfg = tlsCfg.Clone()
	tlsCfg.NextProtos = []string{"http/1.1"}
	tlsCfg.VerifyConnection = func(cs tls.ConnectionState) error {
		handshakes.Add(1)
		if len(cs.PeerCertificates) > 0 && cs.PeerCertificates[0].SerialNumber.String() == renewedServing.Load().(string) {
			onRenewed.Add(1)
		}
		return nil
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: tlsCfg, DisableKeepAlives: true, ForceAttemptHTTP2: false,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
	probe := cfg.Host + "/api/v1/namespaces/default"
	var total, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			err := getOK(ctx, hc, probe)
			total.Add(1)
			if err != nil {
				failed.Add(1)
				mu.Lock()
				if len(failures) < 5 {
					failures = append(failures, fmt.Sprintf("%s: %v", time.Now().Format(time.TimeOnly), err))
				}
				mu.Unlock()
			}
		}
	}()
	stopClient := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}
	defer stopClient()

	start := time.Now()
	for _, s := range renewed {
		triggerRenewal(t, ctx, cpns, s.Name(tc.Name))
	}
	var after map[controlplane.Secret]string
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 2*time.Minute, true, func(context.Context) (bool, error) {
		after = serials()
		for _, s := range renewed {
			if after[s] == before[s] {
				// A trigger that lands while cert-manager still settles the last issuance
				// is dropped; trigger again.
				triggerRenewal(t, ctx, cpns, s.Name(tc.Name))
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("certificates not renewed within 2m: before %v, now %v", before, after)
	}
	t.Logf("%d certificates renewed %.1fs after the trigger", len(renewed), time.Since(start).Seconds())

	// The running apiserver and etcd serve the renewed certificates once the kubelet has
	// updated their Secret volumes (about a minute).
	apiserverAddr := hostOf(t, cfg.Host)
	etcdPod, err := clients.CoreV1().Pods(cpns).Get(ctx, controlplane.Etcd.ObjectName(tc.Name)+"-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	etcdAddr := net.JoinHostPort(etcdPod.Status.PodIP, fmt.Sprint(controlplane.EtcdClientPort))
	var servedAPI, servedEtcd string
	var live map[controlplane.Secret]string
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 4*time.Minute, true, func(context.Context) (bool, error) {
		live = serials() // the Secrets now: a trigger that raced an issuance may have renewed twice
		renewedServing.Store(live[controlplane.APIServerTLSSecret])
		servedAPI, servedEtcd = servedSerial(apiserverAddr), servedSerial(etcdAddr)
		return servedAPI == live[controlplane.APIServerTLSSecret] && servedEtcd == live[controlplane.EtcdServerSecret], nil
	})
	if err != nil {
		t.Errorf("within 4m the apiserver serves %s (renewed: %s), etcd %s (renewed: %s)", servedAPI, live[controlplane.APIServerTLSSecret], servedEtcd, live[controlplane.EtcdServerSecret])
	} else {
		t.Logf("the apiserver and etcd serve the renewed certificates %.1fs after the trigger", time.Since(start).Seconds())
	}
	// Past the switch, the apiserver still reaches etcd and the kubelets' API with its new
	// client certificates: a few more seconds of requests, then the tally.
	time.Sleep(5 * time.Second)
	stopClient()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("renewal under a steady client: %d of %d requests failed; %d handshakes, %d of them with the renewed serving certificate",
		failed.Load(), total.Load(), handshakes.Load(), onRenewed.Load())
	if failed.Load() != 0 || total.Load() < 100 {
		t.Errorf("%d of %d requests failed during the renewal, first: %v", failed.Load(), total.Load(), failures)
	}
	if handshakes.Load() < total.Load() || onRenewed.Load() == 0 {
		t.Errorf("the steady client made %d handshakes for %d requests, %d with the renewed certificate: want one per request, some renewed", handshakes.Load(), total.Load(), onRenewed.Load())
	}
	if got := templates(); got != templatesBefore {
		t.Errorf("the renewal changed the pod templates' checksum/pki: %s, was %s", got, templatesBefore)
	}
	podsAfter := steady()
	for pod, restarts := range podsBefore {
		if got, ok := podsAfter[pod]; !ok || got != restarts {
			t.Errorf("pod %s was replaced or restarted by the renewal (restarts %d, now %d, still there %v)", pod, restarts, got, ok)
		}
	}
	// The apiserver's own clients were renewed too: it still writes to etcd.
	if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-renewal"}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("a write after the renewal: %v", err)
	}
}

// triggerRenewal is cmctl renew: the Issuing condition makes cert-manager issue again now.
func triggerRenewal(t *testing.T, ctx context.Context, ns, name string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cert := &cmv1.Certificate{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cert); err != nil {
			return err
		}
		if slices.ContainsFunc(cert.Status.Conditions, func(c cmv1.CertificateCondition) bool {
			return c.Type == cmv1.CertificateConditionIssuing && c.Status == cmmeta.ConditionTrue
		}) {
			return nil // already issuing
		}
		now := metav1.Now()
		cert.Status.Conditions = slices.DeleteFunc(cert.Status.Conditions, func(c cmv1.CertificateCondition) bool {
			return c.Type == cmv1.CertificateConditionIssuing
		})
		cert.Status.Conditions = append(cert.Status.Conditions, cmv1.CertificateCondition{
			Type: cmv1.CertificateConditionIssuing, Status: cmmeta.ConditionTrue, LastTransitionTime: &now,
			Reason: "ManuallyTriggered", Message: "renewal triggered by the e2e", ObservedGeneration: cert.Generation,
		})
		return kube.Status().Update(ctx, cert)
	})
	if err != nil {
		t.Fatalf("trigger renewal of %s/%s: %v", ns, name, err)
	}
}

// servedSerial is the serial of the certificate a TLS server at addr presents; empty when
// it cannot be read. Nothing is verified: only the certificate is looked at, and the
// handshake may then fail for want of a client certificate.
func servedSerial(addr string) string {
	var serial string
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // only the presented certificate is read
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				serial = cs.PeerCertificates[0].SerialNumber.String()
			}
			return nil
		},
	}}
	if conn, err := d.Dial("tcp", addr); err == nil {
		_ = conn.Close()
	}
	return serial
}

func serialOf(t *testing.T, certPEM []byte) string {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatalf("no PEM certificate in %q", bytes.TrimSpace(certPEM[:min(len(certPEM), 40)]))
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

func hostOf(t *testing.T, server string) string {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		t.Fatalf("server %q: %v", server, err)
	}
	return u.Host
}

// getOK GETs url with hc and wants 200 OK.
func getOK(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return nil
}
