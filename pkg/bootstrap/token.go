package bootstrap

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Groups of bootstrap tokens (besides system:bootstrappers, which every token has). The join
// RBAC is bound to both (JoinGroups), so a token made by `kubeadm token create` with no flags
// joins exactly as against a cluster made by `kubeadm init`. kubeseed's own tokens (one per
// WorkerPool server) carry NodeBootstrapTokenGroup, so that `kubeadm token list` and the
// tenant's audit log tell them from tokens a person made.
const (
	NodeBootstrapTokenGroup        = "system:bootstrappers:kubeseed:default-node-token"
	KubeadmNodeBootstrapTokenGroup = "system:bootstrappers:kubeadm:default-node-token"
)

// JoinGroups are the bootstrap token groups that may join a node to a tenant.
func JoinGroups() []string {
	return []string{KubeadmNodeBootstrapTokenGroup, NodeBootstrapTokenGroup}
}

// Keys of a bootstrap token Secret (k8s.io/cluster-bootstrap/token/api, not a dependency).
const (
	tokenIDKey          = "token-id"
	tokenSecretKey      = "token-secret"
	tokenDescriptionKey = "description"
	tokenExpirationKey  = "expiration"
	tokenGroupsKey      = "auth-extra-groups"
	tokenUsagePrefix    = "usage-bootstrap-"
	tokenSecretPrefix   = "bootstrap-token-"
)

var (
	// bootstrapGroup is the pattern the apiserver's token authenticator accepts for
	// auth-extra-groups (cluster-bootstrap's BootstrapGroupPattern).
	bootstrapGroup = regexp.MustCompile(`^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$`)
	tokenPattern   = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)
)

const (
	tokenChars     = "abcdefghijklmnopqrstuvwxyz0123456789"
	tokenIDLen     = 6
	tokenSecretLen = 16
	redacted       = "<redacted>"
)

// Token is a bootstrap token, "<id>.<secret>": what a worker's `kubeadm join --token` needs,
// and for its lifetime a credential to the tenant. Printing, JSON and slog show only the ID
// (the secret is redacted); Reveal is the one way to the whole token.
type Token struct {
	// ID is the public half: the Secret's name is bootstrap-token-<ID>, and kubeadm's
	// discovery finds cluster-info's JWS signature by it.
	ID string
	// Description is shown by `kubeadm token list`.
	Description string
	// Expires is when the tenant's tokencleaner deletes the token.
	Expires time.Time
	// Groups are the token's auth-extra-groups.
	Groups []string

	// secret sits behind a pointer: printing a struct that holds a Token in an unexported
	// field uses reflection, which cannot call Format and shows a nested pointer only as an
	// address.
	secret *string
}

// NewToken makes a random token that expires ttl from now, authenticating in groups (each
// system:bootstrappers:...) or, when none is given, in NodeBootstrapTokenGroup.
func NewToken(ttl time.Duration, description string, groups ...string) (Token, error) {
	return newToken(time.Now(), rand.Reader, ttl, description, groups...)
}

func newToken(now time.Time, random io.Reader, ttl time.Duration, description string, groups ...string) (Token, error) {
	if ttl <= 0 {
		// A token without expiry would stay a credential to the tenant forever.
		return Token{}, fmt.Errorf("new bootstrap token: ttl %v must be positive", ttl)
	}
	if len(groups) == 0 {
		groups = []string{NodeBootstrapTokenGroup}
	}
	for _, g := range groups {
		if !bootstrapGroup.MatchString(g) {
			return Token{}, fmt.Errorf("new bootstrap token: group %q does not match %s", g, bootstrapGroup)
		}
	}
	s, err := randomString(random, tokenIDLen+tokenSecretLen)
	if err != nil {
		return Token{}, fmt.Errorf("new bootstrap token: %w", err)
	}
	secret := s[tokenIDLen:]
	return Token{
		ID:          s[:tokenIDLen],
		Description: description,
		// Whole seconds: the Secret stores RFC 3339 without fractions.
		Expires: now.Add(ttl).UTC().Truncate(time.Second),
		Groups:  append([]string(nil), groups...),
		secret:  &secret,
	}, nil
}

// randomString draws n characters of [a-z0-9] uniformly: bytes from 252 up are rejected,
// 252 being the largest multiple of 36 a byte holds.
func randomString(random io.Reader, n int) (string, error) {
	var b strings.Builder
	buf := make([]byte, 2*n)
	for b.Len() < n {
		if _, err := io.ReadFull(random, buf); err != nil {
			return "", fmt.Errorf("read random bytes: %w", err)
		}
		for _, c := range buf {
			if c < 252 && b.Len() < n {
				b.WriteByte(tokenChars[int(c)%len(tokenChars)])
			}
		}
	}
	return b.String(), nil
}

// ParseToken reads "<id>.<secret>", for example from a Secret or a flag, with no expiry
// and no groups.
func ParseToken(s string) (Token, error) {
	m := tokenPattern.FindStringSubmatch(s)
	if m == nil {
		// The input is a credential: the error must not repeat it.
		return Token{}, errors.New("parse bootstrap token: not of the form [a-z0-9]{6}.[a-z0-9]{16}")
	}
	secret := m[2]
	return Token{ID: m[1], secret: &secret}, nil
}

// Reveal is the whole token, "<id>.<secret>", for `kubeadm join --token` or a bearer token.
// Never log it.
func (t Token) Reveal() string { return t.ID + "." + t.secretPart() }

func (t Token) secretPart() string {
	if t.secret == nil {
		return ""
	}
	return *t.secret
}

// String is "<id>.<redacted>".
func (t Token) String() string { return t.ID + "." + redacted }

// Format prints the redacted form for every verb, %#v and %+v included, so that no verb
// reaches the secret field.
func (t Token) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprintf(f, "bootstrap.Token{ID:%q, Description:%q, Expires:%q, Groups:%q, secret:%q}",
			t.ID, t.Description, t.Expires.Format(time.RFC3339), t.Groups, redacted)
	case verb == 'v' && f.Flag('+'):
		fmt.Fprintf(f, "{ID:%s Description:%s Expires:%s Groups:%v secret:%s}",
			t.ID, t.Description, t.Expires.Format(time.RFC3339), t.Groups, redacted)
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(t.String()))
	default:
		_, _ = io.WriteString(f, t.String())
	}
}

// tokenJSON is a Token as JSON: everything but the secret.
type tokenJSON struct {
	ID          string    `json:"id"`
	Description string    `json:"description,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
	Groups      []string  `json:"groups,omitempty"`
}

// MarshalJSON leaves the secret out.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(tokenJSON{ID: t.ID, Description: t.Description, Expires: t.Expires, Groups: t.Groups})
}

// LogValue leaves the secret out of slog records.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", t.ID),
		slog.String("description", t.Description),
		slog.Time("expires", t.Expires),
	)
}

// SecretName is the name of the token's Secret in kube-system.
func (t Token) SecretName() string { return tokenSecretPrefix + t.ID }

// Secret is the token as the tenant's apiserver reads it: bootstrap-token-<id> in
// kube-system, usable to authenticate and to verify cluster-info's signature (kubeadm's
// discovery), deleted by the tokencleaner at Expires.
func (t Token) Secret() *corev1.Secret {
	data := map[string][]byte{
		tokenIDKey:                          []byte(t.ID),
		tokenSecretKey:                      []byte(t.secretPart()),
		tokenUsagePrefix + "authentication": []byte("true"),
		tokenUsagePrefix + "signing":        []byte("true"),
	}
	if t.Description != "" {
		data[tokenDescriptionKey] = []byte(t.Description)
	}
	if !t.Expires.IsZero() {
		data[tokenExpirationKey] = []byte(t.Expires.UTC().Format(time.RFC3339))
	}
	if len(t.Groups) > 0 {
		data[tokenGroupsKey] = []byte(strings.Join(t.Groups, ","))
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: t.SecretName(), Namespace: metav1.NamespaceSystem, Labels: managedLabels()},
		Type:       corev1.SecretTypeBootstrapToken,
		Data:       data,
	}
}

// CACertHash is the value of `kubeadm join --discovery-token-ca-cert-hash` for the first
// certificate of caPEM: "sha256:" and the hex SHA-256 of its SubjectPublicKeyInfo.
func CACertHash(caPEM []byte) (string, error) {
	block, _ := pem.Decode(caPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("CA certificate hash: no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("CA certificate hash: %w", err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}
