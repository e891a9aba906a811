package openstack

import (
	"strings"
	"testing"
)

func TestTags(t *testing.T) {
	uid := "6a1c0f8e-2d3b-4c5a-9e8f-7d6c5b4a3e2d" // a Kubernetes UID: 36 characters
	for _, tag := range []string{TenantTag(uid), PoolTag(uid), RoleTag("apiserver-lb")} {
		if err := ValidateTag(tag); err != nil {
			t.Errorf("%s: %v", tag, err)
		}
		if len(tag) > MaxTagLength {
			t.Errorf("%s is %d characters", tag, len(tag))
		}
	}
	if got := TenantTag(uid); got != "kubeseed.io:tenant-uid="+uid {
		t.Errorf("TenantTag = %s", got)
	}
	key, value, ok := ParseTag(PoolTag(uid))
	if !ok || key != TagKeyPoolUID || value != uid {
		t.Errorf("ParseTag = %q, %q, %v", key, value, ok)
	}
	if _, _, ok := ParseTag("kubernetes.io:cluster"); ok {
		t.Errorf("a foreign tag parsed as ours")
	}
	for _, bad := range []string{"", "kubeseed.io/tenant-uid=" + uid, "a,b", strings.Repeat("x", MaxTagLength+1)} {
		if err := ValidateTag(bad); !IsInvalidInput(err) {
			t.Errorf("ValidateTag(%q) = %v", bad, err)
		}
	}
	if _, err := Tag("tenant-uid", uid+uid); err == nil {
		t.Errorf("Tag accepted a 96-character tag")
	}
	if !HasTag([]string{"a", TenantTag(uid)}, TenantTag(uid)) || HasTag(nil, "a") {
		t.Errorf("HasTag")
	}
}
