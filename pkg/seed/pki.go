package seed

import (
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
	"os"
	"path/filepath"
	"time"
)

// The seed's own PKI, made once and kept in <state>/pki. It is a test seed's: certificates
// last ten years and nothing rotates them.

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

type certRequest struct {
	name   string // file stem under pki/
	cn     string
	orgs   []string
	dns    []string
	ips    []net.IP
	server bool
	client bool
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func readPair(dir, name string) (*keyPair, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, name+".key"))
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("%s: not PEM", name)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse %s.crt: %w", name, err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse %s.key: %w", name, err)
	}
	return &keyPair{cert: cert, key: key}, nil
}

// issue returns the pair stored under name, or makes it: self-signed CA when ca is nil.
func issue(dir string, ca *keyPair, req certRequest) (*keyPair, error) {
	if kp, err := readPair(dir, req.name); err == nil {
		return kp, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key %s: %w", req.name, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.cn, Organization: req.orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		DNSNames:     req.dns,
		IPAddresses:  req.ips,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if req.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if req.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	parent, signer := tmpl, key
	if ca == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", req.name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(dir, req.name+".key"), "EC PRIVATE KEY", keyDER); err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(dir, req.name+".crt"), "CERTIFICATE", der); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

// writePKI makes every certificate the seed's components need.
func (l *Local) writePKI() error {
	dir := l.path("pki")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, err := issue(dir, nil, certRequest{name: "ca", cn: "kubernetes-ca"})
	if err != nil {
		return err
	}
	etcdCA, err := issue(dir, nil, certRequest{name: "etcd-ca", cn: "etcd-ca"})
	if err != nil {
		return err
	}
	frontProxyCA, err := issue(dir, nil, certRequest{name: "front-proxy-ca", cn: "front-proxy-ca"})
	if err != nil {
		return err
	}
	loopback := net.ParseIP("127.0.0.1")
	leaves := []struct {
		ca  *keyPair
		req certRequest
	}{
		{etcdCA, certRequest{name: "etcd-server", cn: "etcd", dns: []string{"localhost"}, ips: []net.IP{loopback}, server: true, client: true}},
		{etcdCA, certRequest{name: "apiserver-etcd-client", cn: "kube-apiserver-etcd-client", client: true}},
		{ca, certRequest{
			name: "apiserver", cn: "kube-apiserver", server: true,
			dns: []string{"localhost", l.nodeName, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			ips: []net.IP{loopback, l.nodeIP, net.ParseIP(seedAPIServiceIP)},
		}},
		{ca, certRequest{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, client: true}},
		{ca, certRequest{name: "admin", cn: "kubernetes-admin", orgs: []string{"system:masters"}, client: true}},
		{ca, certRequest{name: "controller-manager", cn: "system:kube-controller-manager", client: true}},
		{ca, certRequest{name: "scheduler", cn: "system:kube-scheduler", client: true}},
		{ca, certRequest{name: "kube-proxy", cn: "system:kube-proxy", client: true}},
		{ca, certRequest{name: "kubelet-client", cn: "system:node:" + l.nodeName, orgs: []string{"system:nodes"}, client: true}},
		{ca, certRequest{name: "kubelet-server", cn: l.nodeName, dns: []string{l.nodeName, "localhost"}, ips: []net.IP{l.nodeIP, loopback}, server: true}},
		{frontProxyCA, certRequest{name: "front-proxy-client", cn: "front-proxy-client", client: true}},
	}
	for _, leaf := range leaves {
		if _, err := issue(dir, leaf.ca, leaf.req); err != nil {
			return fmt.Errorf("issue %s: %w", leaf.req.name, err)
		}
	}
	// The service-account signing key; its public half verifies tokens.
	if _, err := os.Stat(filepath.Join(dir, "sa.key")); errors.Is(err, os.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return err
		}
		pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, "sa.pub"), "PUBLIC KEY", pub); err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, "sa.key"), "EC PRIVATE KEY", der); err != nil {
			return err
		}
	}
	return nil
}
