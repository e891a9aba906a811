package dataplane

import (
	"encoding/base64"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// cloudConfig is the part of cloud-init's #cloud-config the harness runs: write_files and
// runcmd. Any other key is refused, so that user_data cannot rely on something the harness
// would silently skip.
type cloudConfig struct {
	WriteFiles []writeFile `json:"write_files"`
	RunCmd     []any       `json:"runcmd"`
	// ManageEtcHosts "localhost" adds the hostname to /etc/hosts (cloud-init's
	// update_etc_hosts module); false leaves the file alone.
	ManageEtcHosts any `json:"manage_etc_hosts"`
}

type writeFile struct {
	Path        string `json:"path"`
	Content     string `json:"content"`
	Encoding    string `json:"encoding"`
	Permissions string `json:"permissions"`
	Owner       string `json:"owner"`
	Append      bool   `json:"append"`
}

var supportedKeys = []string{"write_files", "runcmd", "manage_etc_hosts"}

// Script turns #cloud-config user_data into the shell script cloud-init would amount to:
// the files written first (write_files runs in cloud-init's init stage), then runcmd's
// commands in order in one `sh` script, as cloud-init's scripts-user stage runs them. A seed
// machine runs its bootstrap with `sh -e`, stricter than cloud-init: the first failing
// command fails the bootstrap, which a test then sees.
func Script(userData []byte) (string, error) {
	text := string(userData)
	if !strings.HasPrefix(text, "#cloud-config") {
		return "", fmt.Errorf("user_data is not #cloud-config (starts with %q)", firstLine(text))
	}
	var keys map[string]any
	if err := yaml.Unmarshal(userData, &keys); err != nil {
		return "", fmt.Errorf("parse #cloud-config: %w", err)
	}
	for k := range keys {
		if !slices.Contains(supportedKeys, k) {
			return "", fmt.Errorf("#cloud-config key %q is not run by this harness (only %v)", k, supportedKeys)
		}
	}
	var cc cloudConfig
	if err := yaml.UnmarshalStrict(userData, &cc); err != nil {
		return "", fmt.Errorf("parse #cloud-config: %w", err)
	}
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# write_files\n")
	for i, f := range cc.WriteFiles {
		if !path.IsAbs(f.Path) {
			return "", fmt.Errorf("write_files[%d]: path %q is not absolute", i, f.Path)
		}
		content := []byte(f.Content)
		switch f.Encoding {
		case "", "text/plain":
		case "b64", "base64":
			raw, err := base64.StdEncoding.DecodeString(f.Content)
			if err != nil {
				return "", fmt.Errorf("write_files[%d] %s: %w", i, f.Path, err)
			}
			content = raw
		default:
			return "", fmt.Errorf("write_files[%d] %s: encoding %q is not supported", i, f.Path, f.Encoding)
		}
		perm := "0644" // cloud-init's default
		if f.Permissions != "" {
			if _, err := strconv.ParseUint(f.Permissions, 8, 32); err != nil {
				return "", fmt.Errorf("write_files[%d] %s: permissions %q are not octal", i, f.Path, f.Permissions)
			}
			perm = f.Permissions
		}
		redirect := ">"
		if f.Append {
			redirect = ">>"
		}
		fmt.Fprintf(&b, "mkdir -p %s\necho %s | base64 -d %s %s\nchmod %s %s\n",
			quote(path.Dir(f.Path)), base64.StdEncoding.EncodeToString(content), redirect, quote(f.Path), perm, quote(f.Path))
	}
	switch cc.ManageEtcHosts {
	case nil, false:
	case "localhost":
		// As cloud-init's update_etc_hosts: the name on 127.0.1.1 unless /etc/hosts has it.
		// The machine's /etc/hosts is its own (pkg/seed); a test points the script elsewhere.
		b.WriteString("# manage_etc_hosts: localhost\nhosts=${KUBESEED_ETC_HOSTS:-/etc/hosts}\n" +
			"grep -Eq \"[[:space:]]$(hostname)([[:space:]]|\\$)\" \"$hosts\" || echo \"127.0.1.1 $(hostname)\" >> \"$hosts\"\n")
	default:
		return "", fmt.Errorf("manage_etc_hosts: %v is not run by this harness (only localhost and false)", cc.ManageEtcHosts)
	}
	b.WriteString("# runcmd\n")
	for i, c := range cc.RunCmd {
		switch v := c.(type) {
		case string:
			b.WriteString(v + "\n")
		case []any:
			args := make([]string, 0, len(v))
			for _, a := range v {
				s, ok := a.(string)
				if !ok {
					return "", fmt.Errorf("runcmd[%d]: argument %v is not a string", i, a)
				}
				args = append(args, quote(s))
			}
			b.WriteString(strings.Join(args, " ") + "\n")
		default:
			return "", fmt.Errorf("runcmd[%d]: %T is neither a string nor a list", i, c)
		}
	}
	return b.String(), nil
}

// quote makes s one shell word.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 40 {
		line = line[:40]
	}
	return line
}
