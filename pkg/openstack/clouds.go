package openstack

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"sigs.k8s.io/yaml"
)

// CloudConfig is one entry of a clouds.yaml, as far as kubeseed reads it. It is parsed
// here, not with gophercloud's clouds package, because that one also reads OS_* variables
// and files from the process's environment: a manager serving many customers must use
// exactly the Secret it was handed and nothing of its own. clouds.yaml is data: no field
// of it makes the manager read a file, an environment variable or run a command; fields
// this type does not know are ignored, and those that name files are refused.
type CloudConfig struct {
	// Name is the key of the entry under `clouds:`.
	Name string `json:"-"`
	// AuthType is empty, password, v3password, v3applicationcredential,
	// applicationcredential, token or v3token.
	AuthType string    `json:"auth_type,omitempty"`
	Auth     CloudAuth `json:"auth"`
	// RegionName selects the catalog's endpoints; empty takes the only region there is.
	RegionName string `json:"region_name,omitempty"`
	// Regions is used only when RegionName is empty and it lists exactly one region.
	Regions []cloudRegion `json:"regions,omitempty"`
	// Interface (or its older spelling EndpointType) is public, internal or admin.
	Interface    string `json:"interface,omitempty"`
	EndpointType string `json:"endpoint_type,omitempty"`
	// Verify false turns off TLS verification (logged once per cloud).
	Verify *bool `json:"verify,omitempty"`
	// There is no cacert: clouds.yaml is data, and a path in it would name a file on the
	// manager's filesystem. A CA bundle comes inline, as the Secret's key cacert
	// (Options.CACert); ParseCloudsYAML refuses cacert, cert, key and other file fields.
}

// CloudAuth is the `auth:` section. Password, ApplicationCredentialSecret and Token are
// secrets: nothing in this package prints them.
type CloudAuth struct {
	AuthURL                     string `json:"auth_url"`
	Username                    string `json:"username,omitempty"`
	UserID                      string `json:"user_id,omitempty"`
	Password                    string `json:"password,omitempty"`
	UserDomainName              string `json:"user_domain_name,omitempty"`
	UserDomainID                string `json:"user_domain_id,omitempty"`
	ProjectName                 string `json:"project_name,omitempty"`
	ProjectID                   string `json:"project_id,omitempty"`
	ProjectDomainName           string `json:"project_domain_name,omitempty"`
	ProjectDomainID             string `json:"project_domain_id,omitempty"`
	DomainName                  string `json:"domain_name,omitempty"`
	DomainID                    string `json:"domain_id,omitempty"`
	ApplicationCredentialID     string `json:"application_credential_id,omitempty"`
	ApplicationCredentialName   string `json:"application_credential_name,omitempty"`
	ApplicationCredentialSecret string `json:"application_credential_secret,omitempty"`
	Token                       string `json:"token,omitempty"`
	// TrustID scopes the token to a Keystone trust: the trustee (these credentials) acts
	// with the roles the trustor delegated on the trustor's project.
	TrustID string `json:"trust_id,omitempty"`
}

// String never shows a secret, should a CloudAuth end up in a log line.
func (a CloudAuth) String() string {
	return fmt.Sprintf("{auth_url: %s, user: %s, application_credential: %s, trust: %s}",
		a.AuthURL, coalesce(a.UserID, a.Username), coalesce(a.ApplicationCredentialID, a.ApplicationCredentialName), a.TrustID)
}

// GoString keeps %#v as discreet as %v.
func (a CloudAuth) GoString() string { return a.String() }

type cloudRegion struct {
	Name string `json:"name"`
}

// UnmarshalJSON accepts a region written as a plain string or as {name: ...}.
func (r *cloudRegion) UnmarshalJSON(b []byte) error {
	var s string
	if err := yaml.Unmarshal(b, &s); err == nil {
		r.Name = s
		return nil
	}
	var obj struct {
		Name string `json:"name"`
	}
	if err := yaml.Unmarshal(b, &obj); err != nil {
		return err
	}
	r.Name = obj.Name
	return nil
}

type cloudsFile struct {
	Clouds map[string]CloudConfig `json:"clouds"`
}

// Authentication methods.
const (
	AuthPassword              = "password"
	AuthApplicationCredential = "v3applicationcredential"
	AuthToken                 = "token"
)

// ParseCloudsYAML returns the cloud called cloudName from a clouds.yaml document. The
// errors name the cloud and the field at fault, never a secret.
func ParseCloudsYAML(data []byte, cloudName string) (*CloudConfig, error) {
	if cloudName == "" {
		return nil, invalidInput("clouds.yaml: no cloud name given")
	}
	var f cloudsFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		// yaml errors quote line numbers, not values: safe to show.
		return nil, invalidInput("clouds.yaml: %v", err)
	}
	c, ok := f.Clouds[cloudName]
	if !ok {
		names := make([]string, 0, len(f.Clouds))
		for n := range f.Clouds {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return nil, invalidInput("clouds.yaml: cloud %q not found: the file has no clouds", CleanMessage(cloudName, 64))
		}
		return nil, invalidInput("clouds.yaml: cloud %q not found (it has %s)", CleanMessage(cloudName, 64), CleanMessage(strings.Join(names, ", "), 256))
	}
	c.Name = cloudName
	if err := refuseFileFields(data, cloudName); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// fileFields are the clouds.yaml fields (of a cloud or its auth section) whose values are
// paths of files: keystoneauth's and openstacksdk's TLS files, and any field ending in
// _file, _path or _dir.
var fileFields = []string{"cacert", "cert", "key", "ca_cert", "cafile", "certfile", "keyfile", "client_cert", "client_key", "tls_ca", "tls_cert", "tls_key"}

func isFileField(k string) bool {
	k = strings.ToLower(k)
	return slices.Contains(fileFields, k) || strings.HasSuffix(k, "_file") || strings.HasSuffix(k, "_path") || strings.HasSuffix(k, "_dir")
}

// refuseFileFields refuses a cloud whose clouds.yaml names a file: the manager never reads
// its own filesystem for a customer. The message names the field and says where a CA
// bundle goes instead.
func refuseFileFields(data []byte, cloudName string) error {
	var f struct {
		Clouds map[string]map[string]any `json:"clouds"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return invalidInput("clouds.yaml: %v", err)
	}
	entry := f.Clouds[cloudName]
	check := func(section string, m map[string]any) error {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !isFileField(k) {
				continue
			}
			field := section + CleanMessage(k, 64)
			switch strings.ToLower(k) {
			case "cacert", "ca_cert", "cafile", "tls_ca":
				return invalidInput("clouds.yaml: cloud %q: %s names a file on the manager, which kubeseed never reads: remove it and put the PEM bundle itself in the Secret's key %q", cloudName, field, SecretKeyCACert)
			case "cert", "key", "certfile", "keyfile", "client_cert", "client_key", "tls_cert", "tls_key":
				return invalidInput("clouds.yaml: cloud %q: %s names a file on the manager, which kubeseed never reads, and client certificates are not supported: remove it and use an application credential (a CA bundle goes in the Secret's key %q)", cloudName, field, SecretKeyCACert)
			}
			return invalidInput("clouds.yaml: cloud %q: %s names a file on the manager, which kubeseed never reads: remove it", cloudName, field)
		}
		return nil
	}
	if err := check("", entry); err != nil {
		return err
	}
	if auth, ok := entry["auth"].(map[string]any); ok {
		return check("auth.", auth)
	}
	return nil
}

// Method is the normalised authentication method: AuthPassword,
// AuthApplicationCredential or AuthToken.
func (c *CloudConfig) Method() string {
	switch strings.ToLower(c.AuthType) {
	case "v3applicationcredential", "applicationcredential", "application_credential":
		return AuthApplicationCredential
	case "token", "v3token":
		return AuthToken
	case "", "password", "v3password":
		if c.AuthType == "" && c.Auth.ApplicationCredentialSecret != "" {
			return AuthApplicationCredential
		}
		return AuthPassword
	}
	return ""
}

// Region is the region endpoints are taken from.
func (c *CloudConfig) Region() string {
	if c.RegionName == "" && len(c.Regions) == 1 {
		return c.Regions[0].Name
	}
	return c.RegionName
}

// Availability is the catalog interface: public unless clouds.yaml says otherwise.
func (c *CloudConfig) Availability() gophercloud.Availability {
	switch strings.TrimSuffix(strings.ToLower(coalesce(c.EndpointType, c.Interface)), "url") {
	case "internal":
		return gophercloud.AvailabilityInternal
	case "admin":
		return gophercloud.AvailabilityAdmin
	}
	return gophercloud.AvailabilityPublic
}

func (c *CloudConfig) validate() error {
	bad := func(format string, args ...any) error {
		return invalidInput("clouds.yaml: cloud %q: "+format, append([]any{c.Name}, args...)...)
	}
	if c.Auth.AuthURL == "" {
		return bad("auth.auth_url is missing")
	}
	if _, err := parseAuthURL(c.Auth.AuthURL); err != nil {
		return bad("auth.auth_url %q %v", CleanMessage(c.Auth.AuthURL, 256), err)
	}
	iface := strings.TrimSuffix(strings.ToLower(coalesce(c.EndpointType, c.Interface)), "url")
	if iface != "" && !slices.Contains([]string{"public", "internal", "admin"}, iface) {
		return bad("interface %q is not public, internal or admin", coalesce(c.EndpointType, c.Interface))
	}
	a := c.Auth
	switch c.Method() {
	case AuthPassword:
		if a.Username == "" && a.UserID == "" {
			return bad("auth.username or auth.user_id is required for password authentication")
		}
		if a.Password == "" {
			return bad("auth.password is missing")
		}
		if a.UserID == "" && a.UserDomainName == "" && a.UserDomainID == "" && a.DomainName == "" && a.DomainID == "" {
			return bad("auth.user_domain_name or auth.user_domain_id is required with auth.username")
		}
		if a.TrustID == "" && a.ProjectID == "" && a.ProjectName == "" {
			return bad("auth.project_id or auth.project_name is required: kubeseed needs a project-scoped token (or auth.trust_id)")
		}
	case AuthApplicationCredential:
		if a.ApplicationCredentialID == "" && a.ApplicationCredentialName == "" {
			return bad("auth.application_credential_id or auth.application_credential_name is required")
		}
		if a.ApplicationCredentialName != "" && a.ApplicationCredentialID == "" && a.Username == "" && a.UserID == "" {
			return bad("auth.username or auth.user_id is required with auth.application_credential_name")
		}
		if a.ApplicationCredentialSecret == "" {
			return bad("auth.application_credential_secret is missing")
		}
		if a.TrustID != "" {
			return bad("auth.trust_id cannot be used with an application credential")
		}
	case AuthToken:
		if a.Token == "" {
			return bad("auth.token is missing")
		}
	default:
		return bad("auth_type %q is not supported (use password, v3applicationcredential or token)", c.AuthType)
	}
	return nil
}

// authOptions are gophercloud's options for this cloud. AllowReauth keeps the
// credentials in memory so that a long-lived client renews its token when it expires.
func (c *CloudConfig) authOptions() gophercloud.AuthOptions {
	a := c.Auth
	ao := gophercloud.AuthOptions{IdentityEndpoint: a.AuthURL, AllowReauth: true}
	switch c.Method() {
	case AuthApplicationCredential:
		// An application credential is bound to its project: no scope may be asked for.
		ao.ApplicationCredentialID = a.ApplicationCredentialID
		ao.ApplicationCredentialName = a.ApplicationCredentialName
		ao.ApplicationCredentialSecret = a.ApplicationCredentialSecret
		if a.ApplicationCredentialID == "" {
			ao.Username, ao.UserID = a.Username, a.UserID
			ao.DomainID, ao.DomainName = coalesce(a.UserDomainID, a.DomainID), coalesce(a.UserDomainName, a.DomainName)
		}
		return ao
	case AuthToken:
		ao.TokenID = a.Token
		// A token cannot be renewed without other credentials.
		ao.AllowReauth = false
	default:
		ao.Username, ao.UserID, ao.Password = a.Username, a.UserID, a.Password
		if a.UserID == "" {
			ao.DomainID, ao.DomainName = coalesce(a.UserDomainID, a.DomainID), coalesce(a.UserDomainName, a.DomainName)
		}
	}
	switch {
	case a.TrustID != "":
		ao.Scope = &gophercloud.AuthScope{TrustID: a.TrustID}
	case a.ProjectID != "":
		ao.Scope = &gophercloud.AuthScope{ProjectID: a.ProjectID}
	case a.ProjectName != "":
		ao.Scope = &gophercloud.AuthScope{
			ProjectName: a.ProjectName,
			DomainID:    coalesce(a.ProjectDomainID, a.DomainID),
			DomainName:  coalesce(a.ProjectDomainName, a.DomainName),
		}
	}
	return ao
}

// secrets are the strings to keep out of every error.
func (c *CloudConfig) secrets() redactor {
	return newRedactor(c.Auth.Password, c.Auth.ApplicationCredentialSecret, c.Auth.Token)
}
