package metrics

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubeseed/kubeseed/pkg/etcd"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// testCA issues certificates for a test etcd.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-etcd-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for cn: a server one for 127.0.0.1, or a client one.
func (ca *testCA) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
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

// startEtcd runs a one-member etcd serving clients over mutual TLS with ca, and returns its
// client URL.
func startEtcd(t *testing.T, ca *testCA) string {
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
	dir := t.TempDir()
	certPEM, keyPEM := ca.issue(t, "etcd", true)
	for name, data := range map[string][]byte{"ca.crt": ca.pem, "server.crt": certPEM, "server.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	client := fmt.Sprintf("https://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin,
		"--name=m0", "--data-dir="+filepath.Join(dir, "data"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer, "--initial-cluster=m0="+peer,
		"--cert-file="+filepath.Join(dir, "server.crt"), "--key-file="+filepath.Join(dir, "server.key"),
		"--trusted-ca-file="+filepath.Join(dir, "ca.crt"), "--client-cert-auth", "--log-level=error",
	)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("etcd log:\n%s", log.String())
		}
	})
	return client
}

// TestDBSizeOfARealEtcd reads the database size of a real etcd over mutual TLS, as the
// manager reads its tenants', and refuses a client certificate the etcd CA did not sign.
func TestDBSizeOfARealEtcd(t *testing.T) {
	ca := newTestCA(t)
	url := startEtcd(t, ca)
	certPEM, keyPEM := ca.issue(t, "kube-apiserver-etcd-client", false)
	cfg := etcd.Config{Endpoints: []string{url}, CA: ca.pem, Cert: certPEM, Key: keyPEM}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var empty int64
	deadline := time.Now().Add(30 * time.Second)
	for {
		octx, ocancel := context.WithTimeout(ctx, 5*time.Second)
		size, err := DBSize(octx, cfg)
		ocancel()
		if err == nil {
			empty = size
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("DBSize of a running etcd: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if empty <= 0 {
		t.Fatalf("DBSize of a fresh etcd = %d, want > 0", empty)
	}

	conn, err := etcd.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	value := strings.Repeat("x", 512<<10)
	for i := range 8 {
		if _, err := conn.KV().Put(ctx, fmt.Sprintf("/big/%d", i), value); err != nil {
			t.Fatal(err)
		}
	}
	// The backend commits in batches (every 100 ms): the file grows shortly after.
	var grown int64
	for deadline := time.Now().Add(20 * time.Second); grown < empty+(2<<20); {
		if grown, err = DBSize(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("DBSize after writing 4 MiB = %d, was %d: want at least 2 MiB more", grown, empty)
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Run("a client certificate of another CA is refused", func(t *testing.T) {
		otherCert, otherKey := newTestCA(t).issue(t, "intruder", false)
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if size, err := DBSize(ctx, etcd.Config{Endpoints: []string{url}, CA: ca.pem, Cert: otherCert, Key: otherKey}); err == nil {
			t.Errorf("DBSize with a foreign client certificate = %d, want an error", size)
		}
	})
	t.Run("no CA is an error before dialling", func(t *testing.T) {
		if _, err := DBSize(ctx, etcd.Config{Endpoints: []string{url}, Cert: certPEM, Key: keyPEM}); err == nil {
			t.Error("want an error")
		}
	})
}
