package openstack

import (
	"encoding/json"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// errorBody is what an error response says, whichever service wrote it.
type errorBody struct {
	message string
	// neutronType is NeutronError.type, e.g. "OverQuota", "PortNotFound".
	neutronType string
}

// MaxMessage bounds, in bytes, a message copied from a response (an HTML error page, a
// body a hostile cloud made huge): it ends up in conditions and events.
const MaxMessage = 256

// parseBody reads the error shapes of the services kubeseed talks to:
//
//	Nova, Keystone:  {"itemNotFound": {"code": 404, "message": "..."}}
//	Neutron:         {"NeutronError": {"type": "OverQuota", "message": "...", "detail": ""}}
//	Octavia (WSME):  {"faultcode": "Client", "faultstring": "...", "debuginfo": null}
//	Placement style: {"errors": [{"status": 409, "title": "...", "detail": "..."}]}
//	Glance, proxies: plain text or HTML
func parseBody(body []byte) errorBody {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return errorBody{message: plainText(body)}
	}
	if fs, ok := raw["faultstring"]; ok {
		var s string
		_ = json.Unmarshal(fs, &s)
		return errorBody{message: s}
	}
	if errs, ok := raw["errors"]; ok {
		var list []struct{ Title, Detail string }
		if json.Unmarshal(errs, &list) == nil && len(list) > 0 {
			return errorBody{message: coalesce(list[0].Detail, list[0].Title)}
		}
	}
	if m, ok := raw["message"]; ok {
		var s string
		if json.Unmarshal(m, &s) == nil {
			return errorBody{message: s}
		}
	}
	for _, v := range raw {
		var inner struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Detail  string `json:"detail"`
		}
		if json.Unmarshal(v, &inner) == nil && (inner.Message != "" || inner.Type != "") {
			return errorBody{message: coalesce(inner.Message, inner.Detail, inner.Type), neutronType: inner.Type}
		}
	}
	return errorBody{message: plainText(body)}
}

var htmlTag = regexp.MustCompile(`<[^>]*>`)

func plainText(body []byte) string {
	return htmlTag.ReplaceAllString(string(body), " ")
}

// limit is what every message taken from a cloud's response goes through.
func limit(s string) string { return CleanMessage(s, MaxMessage) }

// CleanMessage makes text a customer's cloud (or clouds.yaml) wrote fit for a condition or
// an event: invalid UTF-8 and control and formatting characters (bidi overrides, zero
// widths) become spaces, runs of whitespace one space, and a text over n bytes is cut at
// a character boundary and ends in "…" (n bytes in all). n <= 0 means MaxMessage. It
// is the one place such text is cleaned: conditions have a size limit, and a status patch
// with an odd message fails.
func CleanMessage(s string, n int) string {
	if n <= 0 {
		n = MaxMessage
	}
	var b strings.Builder
	b.Grow(min(len(s), n+8))
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if b.Len() > n {
			break // enough to know it must be cut
		}
	}
	out := b.String()
	if len(out) <= n {
		return out
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return strings.TrimRight(out[:max(cut, 0)], " ") + ellipsis
}

func coalesce(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

var (
	// Nova: "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"
	// and, for several at once, "Quota exceeded for cores, ram: ...".
	novaQuota = regexp.MustCompile(`^Quota exceeded for ([^:]+):`)
	// Nova server groups: "Quota exceeded, too many server groups." and
	// "Quota exceeded, too many servers in group".
	novaGroupQuota = regexp.MustCompile(`^Quota exceeded, too many (server groups|servers in group)`)
	// Nova: "Maximum number of key pairs exceeded", "Maximum number of metadata items exceeds 128".
	novaMaximum = regexp.MustCompile(`^Maximum number of ([a-z ]+?) exceed`)
	// Neutron OverQuota: "Quota exceeded for resources: ['port']."
	neutronQuota = regexp.MustCompile(`Quota exceeded for resources: \[([^\]]*)\]`)
	// Octavia QuotaException: "Quota has been met for resources: Load Balancer"
	octaviaQuota = regexp.MustCompile(`^Quota has been met(?: for resources: (.+?))?\.?$`)
)

// quotaResource says whether a 403/409/413 body is a quota refusal, and for what.
func quotaResource(b errorBody) (string, bool) {
	msg := strings.TrimSpace(b.message)
	if m := neutronQuota.FindStringSubmatch(msg); m != nil {
		return normaliseResources(m[1]), true
	}
	if b.neutronType == "OverQuota" {
		return "", true
	}
	if m := novaQuota.FindStringSubmatch(msg); m != nil {
		return normaliseResources(m[1]), true
	}
	if m := novaGroupQuota.FindStringSubmatch(msg); m != nil {
		if m[1] == "server groups" {
			return "server_groups", true
		}
		return "server_group_members", true
	}
	if m := novaMaximum.FindStringSubmatch(msg); m != nil {
		return normaliseResources(m[1]), true
	}
	if m := octaviaQuota.FindStringSubmatch(msg); m != nil {
		return normaliseResources(m[1]), true
	}
	return "", false
}

// normaliseResources turns "'port', 'network'" or "Load Balancer" into "port,network"
// and "load_balancer".
func normaliseResources(list string) string {
	var out []string
	for item := range strings.SplitSeq(list, ",") {
		item = strings.Trim(strings.TrimSpace(item), `'"`)
		if item == "" {
			continue
		}
		out = append(out, strings.ReplaceAll(strings.ToLower(item), " ", "_"))
	}
	return strings.Join(out, ",")
}

// octaviaPending recognises Octavia's 409s for a load balancer that is busy with an
// earlier change: ImmutableObject ("Load Balancer x is immutable and cannot be updated.")
// and LBPendingStateError ("Invalid state PENDING_UPDATE of loadbalancer resource x").
func octaviaPending(msg string) bool {
	return strings.Contains(msg, "is immutable and cannot be updated") ||
		strings.Contains(msg, "Invalid state PENDING_")
}
