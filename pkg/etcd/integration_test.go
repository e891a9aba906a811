package etcd_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubeseed/kubeseed/pkg/etcd"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// etcdBinary is what hack/etcd-bin.sh builds; the test skips without it.
func etcdBinary(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("KUBESEED_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "kubeseed")
	}
	bin := filepath.Join(cache, "etcd", versions.Etcd, "etcd")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no etcd binary at %s (build it with hack/etcd-bin.sh %s): %v", bin, versions.Etcd, err)
	}
	return bin
}

// TestScaleRealClusterOneToThree grows a real one-member TLS cluster to three by following
// Plan step by step, starting each new member the way the chart does: the flags on the
// command line, ETCD_INITIAL_CLUSTER and ETCD_INITIAL_CLUSTER_STATE=existing from the
// environment (the ConfigMap). A key written before scaling must survive it.
func TestScaleRealClusterOneToThree(t *testing.T) {
	bin := etcdBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	const size = 3
	members := make([]*testMember, size)
	targets := make([]etcd.Target, size)
	for i := range members {
		members[i] = &testMember{name: fmt.Sprintf("etcd-%d", i), client: freePort(t), peer: freePort(t), metrics: freePort(t)}
		targets[i] = etcd.Target{Name: members[i].name, PeerURL: members[i].peerURL()}
	}
	// initialCluster is what the chart's ConfigMap lists for n members.
	initialCluster := func(n int) string {
		var parts []string
		for _, m := range members[:n] {
			parts = append(parts, m.name+"="+m.peerURL())
		}
		return strings.Join(parts, ",")
	}
	start := func(i int, state string, listed int) {
		t.Helper()
		if err := members[i].start(bin, dir, pki, initialCluster(listed), state); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { members[i].stop(t) })
	}

	start(0, "new", 1)
	cli, err := etcd.Dial(ctx, etcd.Config{Endpoints: []string{members[0].clientURL()}, CA: pki.ca, Cert: pki.clientCert, Key: pki.clientKey})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	waitUntil(t, ctx, "the first member is ready", func() bool { return members[0].ready() })
	if _, err := cli.KV().Put(ctx, "/before-scaling", "kept"); err != nil {
		t.Fatalf("put: %v", err)
	}

	// The StatefulSet the test plays: pods started so far, and how many of them are ready.
	replicas := int32(1)
	var taken []etcd.Action
	for step := 0; ; step++ {
		if step > 200 || ctx.Err() != nil {
			t.Fatalf("not done after %d plans: %v", step, taken)
		}
		ms, err := etcd.Observe(ctx, cli)
		if err != nil {
			t.Fatalf("observe: %v", err)
		}
		var ready int32
		for _, m := range members[:replicas] {
			if m.ready() {
				ready++
			}
		}
		s := etcd.Plan(etcd.Input{Targets: targets, Members: ms, Replicas: replicas, ReadyReplicas: ready})
		if s.Action != etcd.Wait {
			taken = append(taken, s.Action)
			t.Logf("%s", s.Message())
		}
		switch s.Action {
		case etcd.AddLearner:
			_, err := cli.AddLearner(ctx, s.Target.PeerURL)
			if errors.Is(err, etcd.ErrNotSettled) {
				// Right after a promotion etcd wants the members connected for 5 s.
				taken = taken[:len(taken)-1]
				time.Sleep(500 * time.Millisecond)
			} else if err != nil {
				t.Fatal(err)
			}
		case etcd.Grow:
			// The new pod starts with the ConfigMap as it is now: every member, existing.
			start(int(replicas), "existing", len(ms))
			replicas = s.Replicas
		case etcd.Promote:
			// A learner fails /readyz, which keeps its pod out of the client Service that
			// the kube-apiserver uses (a learner refuses its requests).
			if l := members[slices.IndexFunc(targets, func(x etcd.Target) bool { return x.Name == s.Target.Name })]; l.ready() {
				t.Errorf("learner %s is ready", l.name)
			}
			if err := cli.Promote(ctx, s.MemberID); errors.Is(err, etcd.ErrLearnerNotReady) || errors.Is(err, etcd.ErrNotSettled) {
				taken = taken[:len(taken)-1]
				time.Sleep(200 * time.Millisecond)
			} else if err != nil {
				t.Fatal(err)
			}
		case etcd.Wait:
			time.Sleep(200 * time.Millisecond)
		case etcd.Done:
			want := []etcd.Action{etcd.AddLearner, etcd.Grow, etcd.Promote, etcd.AddLearner, etcd.Grow, etcd.Promote, etcd.Done}
			if !slices.Equal(taken, want) {
				t.Errorf("steps %v, want %v", taken, want)
			}
			checkScaled(t, ctx, ms, members, pki)
			return
		default:
			t.Fatalf("unexpected step %+v", s)
		}
	}
}

func checkScaled(t *testing.T, ctx context.Context, ms []etcd.Member, members []*testMember, pki *testPKI) {
	t.Helper()
	if len(ms) != len(members) {
		t.Fatalf("%d members, want %d", len(ms), len(members))
	}
	for _, m := range ms {
		if m.IsLearner || !m.Started() || !m.Healthy {
			t.Errorf("member %+v is not a healthy voting member", m)
		}
	}
	// Read through the newest member alone: a linearizable read needs it to vote with a quorum.
	last, err := etcd.Dial(ctx, etcd.Config{Endpoints: []string{members[len(members)-1].clientURL()}, CA: pki.ca, Cert: pki.clientCert, Key: pki.clientKey})
	if err != nil {
		t.Fatal(err)
	}
	defer last.Close()
	resp, err := last.KV().Get(ctx, "/before-scaling")
	if err != nil {
		t.Fatalf("get through %s: %v", members[len(members)-1].name, err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "kept" {
		t.Errorf("key written before scaling reads %v", resp.Kvs)
	}
	for _, m := range members {
		if !m.ready() {
			t.Errorf("%s is not ready after scaling", m.name)
		}
	}
}

func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type testMember struct {
	name                  string
	client, peer, metrics int
	cmd                   *exec.Cmd
	log                   string
	exited                chan struct{}
}

func (m *testMember) clientURL() string { return fmt.Sprintf("https://127.0.0.1:%d", m.client) }
func (m *testMember) peerURL() string   { return fmt.Sprintf("https://127.0.0.1:%d", m.peer) }

// start runs the member as the chart's pod does: flags as arguments, the membership from
// the environment.
func (m *testMember) start(bin, dir string, p *testPKI, initialCluster, state string) error {
	m.log = filepath.Join(dir, m.name+".log")
	logFile, err := os.Create(m.log)
	if err != nil {
		return err
	}
	defer logFile.Close()
	m.cmd = exec.Command(bin,
		"--name="+m.name,
		"--data-dir="+filepath.Join(dir, m.name),
		"--listen-client-urls="+m.clientURL(),
		"--advertise-client-urls="+m.clientURL(),
		"--listen-peer-urls="+m.peerURL(),
		"--initial-advertise-peer-urls="+m.peerURL(),
		fmt.Sprintf("--listen-metrics-urls=http://127.0.0.1:%d", m.metrics),
		"--initial-cluster-token=test/scale",
		"--client-cert-auth=true",
		"--cert-file="+p.serverCertFile, "--key-file="+p.serverKeyFile, "--trusted-ca-file="+p.caFile,
		"--peer-client-cert-auth=true",
		"--peer-cert-file="+p.serverCertFile, "--peer-key-file="+p.serverKeyFile, "--peer-trusted-ca-file="+p.caFile,
		"--feature-gates=InitialCorruptCheck=true",
	)
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "ETCD_") })
	m.cmd.Env = append(env, "ETCD_INITIAL_CLUSTER="+initialCluster, "ETCD_INITIAL_CLUSTER_STATE="+state)
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	if err := m.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", m.name, err)
	}
	m.exited = make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(m.exited) }()
	return nil
}

// ready is the pod's readiness probe: /readyz on the metrics listener.
func (m *testMember) ready() bool {
	if m.cmd == nil {
		return false
	}
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", m.metrics))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (m *testMember) stop(t *testing.T) {
	select {
	case <-m.exited:
		// It should not have: show why it did.
		b, _ := os.ReadFile(m.log)
		t.Errorf("%s exited early; its log:\n%s", m.name, tail(string(b), 40))
		return
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	if t.Failed() {
		b, _ := os.ReadFile(m.log)
		t.Logf("%s log:\n%s", m.name, tail(string(b), 20))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testPKI is a throwaway CA, one certificate the members use as server and peer, and a
// client pair.
type testPKI struct {
	ca, clientCert, clientKey             []byte
	caFile, serverCertFile, serverKeyFile string
}

func newTestPKI(t *testing.T, dir string) *testPKI {
	t.Helper()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "etcd-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, cn string, usages []x509.ExtKeyUsage, withSANs bool) (certPEM, keyPEM []byte) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usages,
		}
		if withSANs {
			tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	serverCert, serverKey := leaf(2, "etcd-member", both, true)
	clientCert, clientKey := leaf(3, "kubeseed-manager", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, false)
	p := &testPKI{
		ca: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), clientCert: clientCert, clientKey: clientKey,
		caFile: filepath.Join(dir, "ca.crt"), serverCertFile: filepath.Join(dir, "server.crt"), serverKeyFile: filepath.Join(dir, "server.key"),
	}
	for file, data := range map[string][]byte{p.caFile: p.ca, p.serverCertFile: serverCert, p.serverKeyFile: serverKey} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
