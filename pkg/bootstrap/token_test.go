package bootstrap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 500, time.UTC)

// randomBytes cycles through b, so a test knows which token it gets.
type randomBytes struct {
	b []byte
	i int
}

func (r *randomBytes) Read(p []byte) (int, error) {
	for n := range p {
		p[n] = r.b[r.i%len(r.b)]
		r.i++
	}
	return len(p), nil
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestNewToken(t *testing.T) {
	// 0..35 map to a..z0..9; 252 and up are rejected, 36 wraps to a.
	seq := []byte{0, 1, 2, 3, 4, 5, 252, 255, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43}
	cases := []struct {
		name       string
		random     *randomBytes
		ttl        time.Duration
		groups     []string
		wantID     string
		wantSecret string
		wantGroups string
		wantErr    string
	}{
		{
			name: "default group", random: &randomBytes{b: seq}, ttl: time.Hour,
			wantID: "abcdef", wantSecret: "0123456789abcdef", wantGroups: NodeBootstrapTokenGroup,
		},
		{
			name: "explicit groups", random: &randomBytes{b: seq}, ttl: time.Hour,
			groups: []string{"system:bootstrappers:kubeseed:pool-a", "system:bootstrappers:other"},
			wantID: "abcdef", wantSecret: "0123456789abcdef", wantGroups: "system:bootstrappers:kubeseed:pool-a,system:bootstrappers:other",
		},
		{name: "zero ttl", random: &randomBytes{b: seq}, ttl: 0, wantErr: "must be positive"},
		{name: "negative ttl", random: &randomBytes{b: seq}, ttl: -time.Second, wantErr: "must be positive"},
		{name: "group outside system:bootstrappers", random: &randomBytes{b: seq}, ttl: time.Hour, groups: []string{"system:nodes"}, wantErr: `group "system:nodes"`},
		{name: "group with a trailing colon", random: &randomBytes{b: seq}, ttl: time.Hour, groups: []string{"system:bootstrappers:"}, wantErr: "does not match"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := newToken(now, tt.random, tt.ttl, "pool-a worker", tt.groups...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.Reveal() != tt.wantID+"."+tt.wantSecret {
				t.Errorf("token %s, want %s.%s", tok.Reveal(), tt.wantID, tt.wantSecret)
			}
			s := tok.Secret()
			want := &corev1.Secret{}
			want.APIVersion, want.Kind = "v1", "Secret"
			want.Name, want.Namespace, want.Labels = "bootstrap-token-"+tt.wantID, "kube-system", managedLabels()
			want.Type = "bootstrap.kubernetes.io/token"
			want.Data = map[string][]byte{
				"token-id":                       []byte(tt.wantID),
				"token-secret":                   []byte(tt.wantSecret),
				"description":                    []byte("pool-a worker"),
				"expiration":                     []byte("2026-03-01T13:00:00Z"), // now+1h, whole seconds, UTC
				"usage-bootstrap-authentication": []byte("true"),
				"usage-bootstrap-signing":        []byte("true"),
				"auth-extra-groups":              []byte(tt.wantGroups),
			}
			if !equality.Semantic.DeepEqual(s, want) {
				t.Errorf("Secret:\n got %s\nwant %s", secretString(s), secretString(want))
			}
		})
	}
}

func secretString(s *corev1.Secret) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s type %s labels %v", s.Namespace, s.Name, s.Type, s.Labels)
	for k, v := range s.Data {
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	return b.String()
}

func TestNewTokenIsRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		tok, err := NewToken(time.Minute, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseToken(tok.Reveal()); err != nil {
			t.Fatalf("NewToken made %s, which does not parse: %v", tok, err)
		}
		if seen[tok.Reveal()] {
			t.Fatalf("token %s came twice", tok)
		}
		seen[tok.Reveal()] = true
	}
	if _, err := newToken(now, failingReader{}, time.Minute, ""); err == nil || !strings.Contains(err.Error(), "no entropy") {
		t.Errorf("error %v, want the reader's", err)
	}
}

func TestParseToken(t *testing.T) {
	cases := []struct {
		in     string
		wantOK bool
	}{
		{"abcdef.0123456789abcdef", true},
		{"ABCDEF.0123456789abcdef", false},
		{"abcde.0123456789abcdef", false},
		{"abcdef.0123456789abcde", false},
		{"abcdef:0123456789abcdef", false},
		{" abcdef.0123456789abcdef", false},
		{"", false},
	}
	for _, tt := range cases {
		t.Run(tt.in, func(t *testing.T) {
			tok, err := ParseToken(tt.in)
			if !tt.wantOK {
				if err == nil {
					t.Fatalf("ParseToken(%q) = %s, want an error", tt.in, tok)
				}
				if tt.in != "" && strings.Contains(err.Error(), tt.in) {
					t.Errorf("error %q repeats the input", err)
				}
				return
			}
			if err != nil || tok.Reveal() != tt.in || tok.ID != tt.in[:6] {
				t.Fatalf("ParseToken(%q) = %s (ID %s), %v", tt.in, tok.Reveal(), tok.ID, err)
			}
		})
	}
}

// TestTokenNeverShowsItsSecret renders a token every way a log line or an error message
// might, and expects the ID without the secret.
func TestTokenNeverShowsItsSecret(t *testing.T) {
	tok, err := newToken(now, &randomBytes{b: []byte{0, 1, 2, 3, 4, 5, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 6, 7, 8, 9, 10, 11}}, time.Hour, "worker", NodeBootstrapTokenGroup)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "0123456789ghijkl"
	if tok.Reveal() != "abcdef."+secret {
		t.Fatalf("test token is %s", tok.Reveal())
	}
	type exported struct{ Token Token }
	type unexported struct{ tok Token }
	slogLine := func(h func(*bytes.Buffer) slog.Handler, args ...any) string {
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("joined", args...)
		return buf.String()
	}
	text := func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }
	jsonH := func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }
	mustJSON := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	cases := []struct {
		name   string
		out    string
		wantID bool
	}{
		{"%v", fmt.Sprintf("%v", tok), true},
		{"%+v", fmt.Sprintf("%+v", tok), true},
		{"%#v", fmt.Sprintf("%#v", tok), true},
		{"%s", fmt.Sprintf("%s", tok), true},
		{"%q", fmt.Sprintf("%q", tok), true},
		{"%x", fmt.Sprintf("%x", tok), true},
		{"%d", fmt.Sprintf("%d", tok), true},
		{"pointer %v", fmt.Sprintf("%v", &tok), true},
		{"pointer %+v", fmt.Sprintf("%+v", &tok), true},
		{"String", tok.String(), true},
		{"Sprint", fmt.Sprint(tok), true},
		{"Println", fmt.Sprintln(tok), true},
		{"slice %v", fmt.Sprintf("%v", []Token{tok}), true},
		{"map %v", fmt.Sprintf("%v", map[string]Token{"a": tok}), true},
		{"exported field %+v", fmt.Sprintf("%+v", exported{tok}), true},
		{"exported field %#v", fmt.Sprintf("%#v", exported{tok}), true},
		{"unexported field %+v", fmt.Sprintf("%+v", unexported{tok}), true},
		{"unexported field %#v", fmt.Sprintf("%#v", unexported{tok}), true},
		{"error %v", fmt.Errorf("join with %v failed", tok).Error(), true},
		{"json", mustJSON(tok), true},
		{"json pointer", mustJSON(&tok), true},
		{"json field", mustJSON(exported{tok}), true},
		{"slog text", slogLine(text, "token", tok), true},
		{"slog json", slogLine(jsonH, "token", tok), true},
		{"slog any pointer", slogLine(jsonH, slog.Any("token", &tok)), true},
		{"slog group", slogLine(text, slog.Group("worker", "token", tok)), true},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.out, secret) {
				t.Errorf("shows the secret: %s", tt.out)
			}
			if tt.wantID && !strings.Contains(tt.out, "abcdef") {
				t.Errorf("does not show the ID: %s", tt.out)
			}
		})
	}
}

func TestCACertHash(t *testing.T) {
	caPEM, ca := newCA(t)
	sum := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
	want := "sha256:" + hex.EncodeToString(sum[:])
	cases := []struct {
		name    string
		pem     []byte
		want    string
		wantErr string
	}{
		{name: "CA", pem: caPEM, want: want},
		{name: "bundle takes the first", pem: append(append([]byte{}, caPEM...), mustCAPEM(t)...), want: want},
		{name: "empty", pem: nil, wantErr: "no PEM CERTIFICATE"},
		{name: "a key", pem: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), wantErr: "no PEM CERTIFICATE"},
		{name: "garbage certificate", pem: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), wantErr: "CA certificate hash"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CACertHash(tt.pem)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CACertHash = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
