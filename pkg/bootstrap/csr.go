package bootstrap

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
)

// ValidServingCSR says whether csr is a kubelet serving certificate request that node may
// have, nil if kubeseed can approve it. Nothing in Kubernetes approves these (the
// csrapprover only handles client certificates), and an approved one lets its holder serve
// as the node, so the request must be exactly what a kubelet with serverTLSBootstrap asks
// for, of itself:
//   - signer kubernetes.io/kubelet-serving, requested by system:node:<name> in
//     system:nodes: the node's own client certificate, not a bootstrap token;
//   - subject CN system:node:<name>, O system:nodes and nothing else;
//   - usages digital signature and server auth, plus key encipherment for an RSA key only;
//   - at least one SAN, each DNS name one of the node's Hostname, InternalDNS or
//     ExternalDNS addresses, each IP one of its InternalIP, ExternalIP or an IP Hostname
//     (the kubelet's own mapping); no e-mail or URI.
//
// The node's addresses are taken as they are in its status, which the kubelet or the
// cloud controller manager writes: they are what the apiserver dials.
func ValidServingCSR(csr *certificatesv1.CertificateSigningRequest, node *corev1.Node) error {
	if csr == nil || node == nil {
		return errors.New("kubelet serving CSR: nil CSR or node")
	}
	if err := validServingCSR(csr, node); err != nil {
		return fmt.Errorf("kubelet serving CSR %s for node %s: %w", csr.Name, node.Name, err)
	}
	return nil
}

func validServingCSR(csr *certificatesv1.CertificateSigningRequest, node *corev1.Node) error {
	user := NodeUserPrefix + node.Name
	if csr.Spec.SignerName != certificatesv1.KubeletServingSignerName {
		return fmt.Errorf("signer is %q, not %s", csr.Spec.SignerName, certificatesv1.KubeletServingSignerName)
	}
	if csr.Spec.Username != user {
		return fmt.Errorf("requested by %q, not %s", csr.Spec.Username, user)
	}
	if !slices.Contains(csr.Spec.Groups, NodesGroup) {
		return fmt.Errorf("requester is not in group %s", NodesGroup)
	}
	req, err := parseCSR(csr.Spec.Request)
	if err != nil {
		return err
	}
	if req.Subject.CommonName != user {
		return fmt.Errorf("subject CN is %q, not %s", req.Subject.CommonName, user)
	}
	if !slices.Equal(req.Subject.Organization, []string{NodesGroup}) {
		return fmt.Errorf("subject O is %q, not [%s]", req.Subject.Organization, NodesGroup)
	}
	if err := checkServingUsages(csr.Spec.Usages, req); err != nil {
		return err
	}
	return checkSANs(req, node)
}

func parseCSR(request []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(request)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("request is not a PEM CERTIFICATE REQUEST")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse request: %w", err)
	}
	// Proves the requester holds the key the certificate would be for.
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("request signature: %w", err)
	}
	return req, nil
}

// checkServingUsages wants exactly what the kubelet asks for: key encipherment only where
// the key can encipher (RSA key exchange), never any client or signing usage.
func checkServingUsages(usages []certificatesv1.KeyUsage, req *x509.CertificateRequest) error {
	want := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
	_, isRSA := req.PublicKey.(*rsa.PublicKey)
	for _, u := range usages {
		switch {
		case slices.Contains(want, u):
		case u == certificatesv1.UsageKeyEncipherment && isRSA:
		default:
			return fmt.Errorf("usage %q is not allowed for a kubelet serving certificate with a %s key", u, req.PublicKeyAlgorithm)
		}
	}
	for _, u := range want {
		if !slices.Contains(usages, u) {
			return fmt.Errorf("usage %q is missing", u)
		}
	}
	return nil
}

func checkSANs(req *x509.CertificateRequest, node *corev1.Node) error {
	if len(req.EmailAddresses) > 0 || len(req.URIs) > 0 {
		return errors.New("e-mail and URI SANs are not allowed")
	}
	if len(req.DNSNames) == 0 && len(req.IPAddresses) == 0 {
		return errors.New("no DNS or IP SAN")
	}
	names, ips := nodeSANs(node.Status.Addresses)
	for _, name := range req.DNSNames {
		if !slices.Contains(names, strings.ToLower(name)) {
			return fmt.Errorf("DNS SAN %q is not an address of the node", name)
		}
	}
	for _, raw := range req.IPAddresses {
		ip, ok := netip.AddrFromSlice(raw)
		if !ok || !slices.Contains(ips, ip.Unmap()) {
			return fmt.Errorf("IP SAN %s is not an address of the node", raw)
		}
	}
	return nil
}

// nodeSANs sorts a node's addresses into names and IPs the way the kubelet does when it
// writes its serving CSR: a Hostname that is an IP is an IP.
func nodeSANs(addresses []corev1.NodeAddress) (names []string, ips []netip.Addr) {
	for _, a := range addresses {
		ip, err := netip.ParseAddr(a.Address)
		isIP := err == nil
		switch {
		case a.Address == "":
		case isIP && (a.Type == corev1.NodeHostName || a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP):
			ips = append(ips, ip.Unmap())
		case !isIP && (a.Type == corev1.NodeHostName || a.Type == corev1.NodeInternalDNS || a.Type == corev1.NodeExternalDNS):
			names = append(names, strings.ToLower(a.Address))
		}
	}
	return names, ips
}
