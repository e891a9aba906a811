package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// floorPeriod is how often the floor polls etcd's /health and kube-apiserver's /readyz.
const floorPeriod = 50 * time.Millisecond

// defaultAssets is where `make envtest-assets` puts etcd and kube-apiserver, computed as the
// Makefile's ENVTEST_ASSETS: $KUBEBUILDER_ASSETS when set, as `make test` sets it.
func defaultAssets() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	return filepath.Join(seed.CacheDir(), "envtest", versions.Envtest+"-etcd-"+versions.Etcd)
}

func checkAssets(dir string) error {
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		fi, err := os.Stat(filepath.Join(dir, bin))
		if err == nil && fi.Mode()&0o111 == 0 {
			err = errors.New("not executable")
		}
		if err != nil {
			return fmt.Errorf("floor needs %s in %s (%w): run `make envtest-assets` or pass -assets", bin, dir, err)
		}
	}
	return nil
}

// floorResult is one bare start, from both processes started.
type floorResult struct {
	apiserver time.Duration // kube-apiserver's /readyz answered 200
	etcd      time.Duration // etcd's /health answered 200
}

// floorOnce starts etcd and kube-apiserver from assets at the same moment, as a tenant's pods
// would start, and measures until /readyz answers 200 (RBAC bootstrap included). Both
// processes are killed and their directory removed on return, interrupted or not.
func floorOnce(ctx context.Context, assets string, timeout time.Duration) (floorResult, error) {
	dir, err := os.MkdirTemp("", "tenant-ready-floor-")
	if err != nil {
		return floorResult{}, fmt.Errorf("floor temp dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	ports, err := freePorts(3)
	if err != nil {
		return floorResult{}, err
	}
	client, err := floorPKI(dir)
	if err != nil {
		return floorResult{}, fmt.Errorf("floor PKI: %w", err)
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	apiURL := "https://127.0.0.1:" + strconv.Itoa(ports[2])
	etcdArgs := []string{
		"--name=floor", "--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=floor=" + peerURL,
	}
	// As a tenant's apiserver (pkg/controlplane/flags.go) where it matters to /readyz: the
	// same authorizers and endpoint reconciler; TLS self-signed into --cert-dir.
	apiArgs := []string{
		"--etcd-servers=" + etcdURL, "--secure-port=" + strconv.Itoa(ports[2]),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(dir, "certs"), "--client-ca-file=" + filepath.Join(dir, "ca.crt"),
		"--service-account-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.96.0.0/12",
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--endpoint-reconciler-type=none", "--allow-privileged=true",
	}
	etcd, err := newProc(ctx, dir, filepath.Join(assets, "etcd"), etcdArgs)
	if err != nil {
		return floorResult{}, err
	}
	api, err := newProc(ctx, dir, filepath.Join(assets, "kube-apiserver"), apiArgs)
	if err != nil {
		return floorResult{}, err
	}

	start := time.Now()
	if err := etcd.start(); err != nil {
		return floorResult{}, err
	}
	defer etcd.kill()
	if err := api.start(); err != nil {
		return floorResult{}, err
	}
	defer api.kill()

	// etcd on its own goroutine, so a slow answer from one does not delay the other's poll.
	etcdUp := make(chan time.Duration, 1)
	go func() {
		if waitOK(ctx, &http.Client{Timeout: time.Second}, etcdURL+"/health", etcd, timeout) {
			etcdUp <- time.Since(start)
		}
		close(etcdUp)
	}()
	// The admin's way in, as the bench reaches a tenant: a system:masters client certificate.
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{client}}, //nolint:gosec // the apiserver's self-signed certificate, on localhost
		DisableKeepAlives: true,
	}}
	ok := waitOK(ctx, hc, apiURL+"/readyz", api, timeout)
	took := time.Since(start)
	if !ok && ctx.Err() != nil {
		return floorResult{}, fmt.Errorf("floor interrupted: %w", ctx.Err())
	}
	if !ok {
		return floorResult{}, fmt.Errorf("kube-apiserver /readyz not 200 after %s%s%s", took.Round(time.Millisecond), api.why(), etcd.why())
	}
	r := floorResult{apiserver: took}
	// etcd answers first in practice; its time stays zero if /health never said 200.
	select {
	case r.etcd = <-etcdUp:
	case <-time.After(5 * time.Second):
	}
	return r, nil
}

// waitOK polls url every floorPeriod until it answers 200, p exits, ctx ends or timeout.
func waitOK(ctx context.Context, hc *http.Client, url string, p *proc, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(floorPeriod)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-p.exited:
			return false
		case <-tick.C:
		}
	}
}

// proc is a host process whose output goes to a log file, read back when it fails.
type proc struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error // Wait's, valid once exited is closed
}

func newProc(ctx context.Context, dir, bin string, args []string) (*proc, error) {
	logPath := filepath.Join(dir, filepath.Base(bin)+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", bin, err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Killed with the bench even if it dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return &proc{cmd: cmd, log: logPath, exited: make(chan struct{})}, nil
}

func (p *proc) start() error {
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.cmd.Path, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	return nil
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
	if f, ok := p.cmd.Stdout.(*os.File); ok {
		_ = f.Close()
	}
}

// why says how the process ended, if it did, with the tail of its log.
func (p *proc) why() string {
	select {
	case <-p.exited:
	default:
		return ""
	}
	raw, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	tail := lines[max(len(lines)-10, 0):]
	return fmt.Sprintf("; %s exited (%v):\n  %s", filepath.Base(p.cmd.Path), p.err, strings.Join(tail, "\n  "))
}

// freePorts reserves n distinct localhost ports, holding all until each is chosen.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		defer func() { _ = l.Close() }()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// floorPKI writes a client CA (ca.crt) and a service-account key (sa.key) into dir and
// returns a system:masters client certificate signed by the CA: the same authentication
// path as a tenant's admin kubeconfig, which RBAC does not consult.
func floorPKI(dir string) (tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "floor-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	clientDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "floor-admin", Organization: []string{"system:masters"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, caTmpl, &clientKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	saDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	files := map[string][]byte{
		"ca.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"sa.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saDER}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return tls.Certificate{}, err
		}
	}
	return tls.Certificate{Certificate: [][]byte{clientDER}, PrivateKey: clientKey}, nil
}

// floor runs floorOnce runs times; each result is printed when each is set.
func floor(ctx context.Context, assets string, runs int, timeout time.Duration, each bool) ([]floorResult, error) {
	var out []floorResult
	for i := 1; i <= runs; i++ {
		r, err := floorOnce(ctx, assets, timeout)
		if err != nil {
			return nil, fmt.Errorf("floor run %d: %w", i, err)
		}
		if each {
			fmt.Printf("floor run %d: kube-apiserver /readyz 200 after %.2f s (etcd /health 200 after %.2f s)\n", i, r.apiserver.Seconds(), r.etcd.Seconds())
		}
		out = append(out, r)
	}
	return out, nil
}
