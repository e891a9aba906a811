package tunnel

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// ServerTLSConfig serves the agents' listener with the key pair in certFile and keyFile
// and accepts only client certificates signed by a CA in caFile. The key pair is read at
// every handshake, so a renewed certificate is served without a restart.
func ServerTLSConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, err
	}
	if _, err := loadPair(certFile, keyFile); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  pool,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return loadPair(certFile, keyFile)
		},
	}, nil
}

// AgentTLSConfig presents the client key pair in certFile and keyFile, read at every
// connection so that a renewed certificate is used at the next one, and trusts only the CAs
// in caFile. serverName is the name the server's certificate must carry; empty means the
// host the agent dials.
func AgentTLSConfig(certFile, keyFile, caFile, serverName string) (*tls.Config, error) {
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, err
	}
	if _, err := loadPair(certFile, keyFile); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    pool,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return loadPair(certFile, keyFile)
		},
	}, nil
}

func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load key pair %s: %w", certFile, err)
	}
	return &c, nil
}

func loadPool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return pool, nil
}
