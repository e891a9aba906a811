package openstack

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/utils"
)

// Compute API microversions kubeseed speaks. The client uses the newest the cloud
// offers up to ComputeMaxMicroversion, and refuses a cloud older than
// ComputeMinMicroversion.
const (
	// ComputeMinMicroversion: 2.52 is the first with tags on server create, which is how
	// every server is found again (list by tag needs 2.26, user_data read-back 2.3).
	ComputeMinMicroversion = "2.52"
	// ComputeMaxMicroversion is the newest microversion this package was checked
	// against: Zed's 2.93. Newer clouds are spoken to at 2.93, which they must serve.
	ComputeMaxMicroversion = "2.93"
	// computeServerGroupPolicy is where server groups take one "policy" instead of a
	// "policies" list.
	computeServerGroupPolicy = "2.64"
	// computeImageProxyMax is the last microversion with Nova's /images proxy.
	computeImageProxyMax = "2.35"
)

// Octavia feature levels (its API versions are advertised, not negotiated per request).
const (
	// octaviaTags is the first Octavia API version with tags.
	octaviaTags = "2.5"
)

// Microversion is a major.minor API version.
type Microversion struct{ Major, Minor int }

// ParseMicroversion reads "2.93" (a leading "v" is accepted, as in Octavia's "v2.26").
func ParseMicroversion(s string) (Microversion, error) {
	major, minor, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(s), "v"), ".")
	if !ok {
		return Microversion{}, fmt.Errorf("microversion %q is not major.minor", s)
	}
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil || ma < 0 || mi < 0 {
		return Microversion{}, fmt.Errorf("microversion %q is not major.minor", s)
	}
	return Microversion{ma, mi}, nil
}

func mustMicroversion(s string) Microversion {
	v, err := ParseMicroversion(s)
	if err != nil {
		panic(err)
	}
	return v
}

func (v Microversion) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less orders microversions.
func (v Microversion) Less(o Microversion) bool {
	return v.Major < o.Major || (v.Major == o.Major && v.Minor < o.Minor)
}

// IsZero says the version is unknown.
func (v Microversion) IsZero() bool { return v == Microversion{} }

// AtLeast says whether v is o or newer.
func (v Microversion) AtLeast(o string) bool { return !v.Less(mustMicroversion(o)) }

// PickMicroversion returns min(ours, the server's maximum), and an error when that is
// below what we need or what the server still serves.
func PickMicroversion(serverMin, serverMax, oursMin, oursMax Microversion) (Microversion, error) {
	chosen := oursMax
	if serverMax.Less(chosen) {
		chosen = serverMax
	}
	if chosen.Less(oursMin) {
		return Microversion{}, fmt.Errorf("the cloud serves microversions up to %s, kubeseed needs at least %s", serverMax, oursMin)
	}
	if chosen.Less(serverMin) {
		return Microversion{}, fmt.Errorf("the cloud serves microversions from %s on, kubeseed speaks up to %s", serverMin, oursMax)
	}
	return chosen, nil
}

// versionDoc is one entry of an OpenStack version discovery document.
type versionDoc struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Version    string `json:"version"`
	MinVersion string `json:"min_version"`
}

// getVersions reads the version document at url: {"version": {...}} at a versioned root,
// {"versions": [...]} at an unversioned one.
func getVersions(ctx context.Context, pc *gophercloud.ProviderClient, url string) ([]versionDoc, error) {
	var doc struct {
		Version  *versionDoc  `json:"version"`
		Versions []versionDoc `json:"versions"`
	}
	//nolint:bodyclose // gophercloud closes it after decoding JSONResponse
	_, err := pc.Request(ctx, "GET", url, &gophercloud.RequestOpts{JSONResponse: &doc, OkCodes: []int{200, 300}})
	if err != nil {
		return nil, err
	}
	if doc.Version != nil {
		return []versionDoc{*doc.Version}, nil
	}
	return doc.Versions, nil
}

// negotiateCompute asks Nova what it serves (GET on the versioned root of the compute
// endpoint, which drops any project ID in the catalog URL) and picks the microversion.
func negotiateCompute(ctx context.Context, sc *gophercloud.ServiceClient) (Microversion, error) {
	root, err := utils.BaseVersionedEndpoint(sc.Endpoint)
	if err != nil {
		return Microversion{}, err
	}
	docs, err := getVersions(ctx, sc.ProviderClient, root)
	if err != nil {
		return Microversion{}, err
	}
	var doc *versionDoc
	for i := range docs {
		if docs[i].ID == "v2.1" {
			doc = &docs[i]
		}
	}
	if doc == nil || doc.Version == "" {
		return Microversion{}, fmt.Errorf("the compute API at %s advertises no v2.1 microversions", pathOf(root))
	}
	serverMax, err := ParseMicroversion(doc.Version)
	if err != nil {
		return Microversion{}, err
	}
	serverMin, err := ParseMicroversion(coalesce(doc.MinVersion, "2.1"))
	if err != nil {
		return Microversion{}, err
	}
	return PickMicroversion(serverMin, serverMax, mustMicroversion(ComputeMinMicroversion), mustMicroversion(ComputeMaxMicroversion))
}

// discoverOctavia returns the newest API version Octavia advertises at its root ("v2.26"
// on Zed), or zero when it does not say.
func discoverOctavia(ctx context.Context, sc *gophercloud.ServiceClient) (Microversion, error) {
	root, err := utils.BaseEndpoint(sc.Endpoint)
	if err != nil {
		return Microversion{}, err
	}
	docs, err := getVersions(ctx, sc.ProviderClient, root)
	if err != nil {
		return Microversion{}, err
	}
	var newest Microversion
	for _, d := range docs {
		if v, err := ParseMicroversion(d.ID); err == nil && newest.Less(v) {
			newest = v
		}
	}
	return newest, nil
}
