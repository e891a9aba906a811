package openstack

import (
	"slices"
	"strings"
)

// Tags mark what kubeseed created, so that it can find (list by tag) and clean up its
// resources with nothing but the cloud to go by. A tag is a plain string,
//
//	kubeseed.io:<key>=<value>          e.g. kubeseed.io:tenant-uid=6a1c0f8e-...-9d2e
//
// and must suit all three services at once: Nova server tags are at most 60 characters
// and may contain neither "/" nor "," (API-WG tag guideline; Nova enforces it, and
// Neutron and Octavia filter lists with comma-separated tags, so a comma would split
// one tag into two). Neutron and Octavia allow 255 characters. Hence ":" where a
// Kubernetes label would have "/", and MaxTagLength = 60. A Kubernetes UID is 36
// characters, so every key here leaves room for one. Nova allows 50 tags per server.
//
// Not every resource takes tags: Nova server groups and Neutron security group rules
// do not; kubeseed finds those by name (server groups) or through their parent.
const (
	// TagPrefix starts every tag kubeseed sets.
	TagPrefix = "kubeseed.io:"
	// MaxTagLength is the longest tag accepted by every service (Nova's limit).
	MaxTagLength = 60
	// MaxServerTags is Nova's limit of tags per server.
	MaxServerTags = 50

	// TagKeyTenantUID carries the TenantCluster's UID: every resource of a tenant.
	TagKeyTenantUID = "tenant-uid"
	// TagKeyPoolUID carries the WorkerPool's UID: its servers and their ports.
	TagKeyPoolUID = "pool-uid"
	// TagKeyRole says what a resource is for, e.g. "apiserver-lb", "worker".
	TagKeyRole = "role"
)

// Tag builds kubeseed.io:<key>=<value>, or reports why the cloud would refuse it.
func Tag(key, value string) (string, error) {
	t := TagPrefix + key + "=" + value
	if err := ValidateTag(t); err != nil {
		return "", err
	}
	return t, nil
}

// TenantTag is the tag of everything created for the TenantCluster with this UID.
func TenantTag(uid string) string { return mustTag(TagKeyTenantUID, uid) }

// PoolTag is the tag of everything created for the WorkerPool with this UID.
func PoolTag(uid string) string { return mustTag(TagKeyPoolUID, uid) }

// RoleTag is the tag naming a resource's purpose.
func RoleTag(role string) string { return mustTag(TagKeyRole, role) }

// mustTag is for keys defined here and values (UIDs, role names) that always fit.
func mustTag(key, value string) string {
	t, err := Tag(key, value)
	if err != nil {
		panic(err)
	}
	return t
}

// ParseTag splits a kubeseed tag into key and value; ok is false for any other tag.
func ParseTag(tag string) (key, value string, ok bool) {
	rest, found := strings.CutPrefix(tag, TagPrefix)
	if !found {
		return "", "", false
	}
	return strings.Cut(rest, "=")
}

// ValidateTag reports why Nova, Neutron or Octavia would refuse tag.
func ValidateTag(tag string) error {
	switch {
	case tag == "":
		return invalidInput("tag is empty")
	case len(tag) > MaxTagLength:
		return invalidInput("tag %q is %d characters long, at most %d are allowed", tag, len(tag), MaxTagLength)
	case strings.ContainsAny(tag, "/,"):
		return invalidInput("tag %q contains '/' or ',', which OpenStack tags may not", tag)
	}
	return nil
}

func validateTags(tags []string) error {
	for _, t := range tags {
		if err := ValidateTag(t); err != nil {
			return err
		}
	}
	return nil
}

// HasTag says whether tags contains tag.
func HasTag(tags []string, tag string) bool {
	return slices.Contains(tags, tag)
}
