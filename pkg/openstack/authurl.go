package openstack

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ErrAuthURLNotAllowed is a clouds.yaml's auth_url that is not one of the clouds the seed's
// operator allows (the manager's --allowed-auth-urls). Nothing was dialled; only a
// changed Secret (or the operator) helps.
var ErrAuthURLNotAllowed = errors.New("auth_url not allowed")

// AuthURLAllowList is the set of Keystone URLs customers' clouds.yaml may point at. The
// zero value allows every URL.
type AuthURLAllowList struct {
	entries []authURL
}

// authURL is a URL reduced to what is compared: scheme, lower-case host without a
// trailing dot, port (the scheme's default when none is written) and the path without
// trailing slashes.
type authURL struct {
	raw                      string
	scheme, host, port, path string
}

// ParseAuthURLAllowList reads the operator's list (e.g. from --allowed-auth-urls). Each
// entry is an absolute http or https URL without user info, query or fragment.
func ParseAuthURLAllowList(entries []string) (AuthURLAllowList, error) {
	var l AuthURLAllowList
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		u, err := parseAuthURL(e)
		if err != nil {
			return AuthURLAllowList{}, fmt.Errorf("allowed auth URL %q: %w", e, err)
		}
		if u.query {
			return AuthURLAllowList{}, fmt.Errorf("allowed auth URL %q: a query or fragment is not allowed", e)
		}
		l.entries = append(l.entries, u.authURL)
	}
	return l, nil
}

// IsZero says whether the list allows every URL.
func (l AuthURLAllowList) IsZero() bool { return len(l.entries) == 0 }

// String lists the entries as the operator wrote them, comma-separated.
func (l AuthURLAllowList) String() string {
	s := make([]string, len(l.entries))
	for i, e := range l.entries {
		s[i] = e.raw
	}
	return strings.Join(s, ", ")
}

// Allows says whether a clouds.yaml's auth_url may be dialled: its scheme, host and port
// equal an entry's and its path is the entry's or lies below it (segment by segment:
// /v3 allows /v3 and /v3/, not /v3evil). A URL with user info, dot segments or encoded
// slashes or dots is never allowed by a non-empty list.
func (l AuthURLAllowList) Allows(raw string) bool {
	if l.IsZero() {
		return true
	}
	u, err := parseAuthURL(raw)
	if err != nil || u.query || u.dots {
		return false
	}
	for _, e := range l.entries {
		if u.scheme == e.scheme && u.host == e.host && u.port == e.port &&
			(e.path == "" || u.path == e.path || strings.HasPrefix(u.path, e.path+"/")) {
			return true
		}
	}
	return false
}

// check returns an ErrAuthURLNotAllowed error for a cloud whose auth_url the list refuses.
// The message names the auth_url and the allowed clouds (they are no secret) and is meant
// for the customer.
func (l AuthURLAllowList) check(cfg *CloudConfig) error {
	if l.Allows(cfg.Auth.AuthURL) {
		return nil
	}
	return &APIError{Kind: ErrAuthURLNotAllowed, Message: CleanMessage(fmt.Sprintf(
		"auth.auth_url %q of cloud %q is not allowed: the seed's operator allows only the clouds at %s; point clouds.yaml at one of them",
		cfg.Auth.AuthURL, cfg.Name, l), 1024)}
}

type parsedAuthURL struct {
	authURL
	// query is set when the URL has a query or fragment, dots when its path has dot
	// segments or percent-encoded slashes or dots.
	query, dots bool
}

// parseAuthURL checks what every auth_url must be, allow-list or not: absolute, http or
// https, with a host and without user info.
func parseAuthURL(raw string) (parsedAuthURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return parsedAuthURL{}, errors.New("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return parsedAuthURL{}, errors.New("must be an http or https URL")
	}
	if u.User != nil {
		return parsedAuthURL{}, errors.New("must not carry user info (user@host): credentials go in the auth section")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" || u.Opaque != "" {
		return parsedAuthURL{}, errors.New("has no host")
	}
	port := u.Port()
	if port == "" && strings.HasSuffix(u.Host, ":") {
		return parsedAuthURL{}, errors.New("has an empty port")
	}
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.Trim(port, "0123456789") != "" {
		return parsedAuthURL{}, errors.New("has an invalid port")
	}
	escaped := u.EscapedPath()
	lower := strings.ToLower(escaped)
	p := parsedAuthURL{
		authURL: authURL{raw: raw, scheme: scheme, host: host, port: strings.TrimLeft(port, "0"), path: strings.TrimRight(escaped, "/")},
		query:   u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"),
		dots:    strings.Contains(lower, "%2e") || strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(escaped, `\`),
	}
	for seg := range strings.SplitSeq(escaped, "/") {
		if seg == "." || seg == ".." {
			p.dots = true
		}
	}
	return p, nil
}
