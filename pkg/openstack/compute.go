package openstack

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servergroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

// Compute is what kubeseed needs from Nova (and Glance, for images).
type Compute interface {
	// CreateServer boots a server. Only ID, Name, Tags and Metadata of the result are
	// known at once; poll GetServer for the rest.
	CreateServer(ctx context.Context, spec ServerSpec) (*Server, error)
	GetServer(ctx context.Context, id string) (*Server, error)
	// ListServers returns the project's servers carrying tag (all when tag is "").
	ListServers(ctx context.Context, tag string) ([]Server, error)
	// DeleteServer asks Nova to delete the server; ErrNotFound when it is already gone.
	DeleteServer(ctx context.Context, id string) error
	// SetServerMetadata adds or replaces the given metadata items of a server, leaving the
	// others as they are.
	SetServerMetadata(ctx context.Context, id string, metadata map[string]string) error
	// ServerUserData reads back the server's user_data (decoded). Nova shows it only to
	// admins (OS-EXT-SRV-ATTR:user_data, microversion 2.3 on): ErrForbidden otherwise.
	ServerUserData(ctx context.Context, id string) ([]byte, error)

	// CreateServerGroup creates a server group with one policy: anti-affinity,
	// soft-anti-affinity, affinity or soft-affinity. Server groups take no tags: find
	// them again by name with ListServerGroups.
	CreateServerGroup(ctx context.Context, name, policy string) (*ServerGroup, error)
	GetServerGroup(ctx context.Context, id string) (*ServerGroup, error)
	ListServerGroups(ctx context.Context) ([]ServerGroup, error)
	DeleteServerGroup(ctx context.Context, id string) error

	// GetFlavor finds a flavor by ID or, failing that, by name. ErrNotFound when there
	// is none, ErrInvalidInput when several share the name.
	GetFlavor(ctx context.Context, nameOrID string) (*Flavor, error)
	// GetImage finds an image by ID or name, in Glance or, when the catalog has no
	// image service, through Nova's image proxy. Same errors as GetFlavor.
	GetImage(ctx context.Context, nameOrID string) (*Image, error)

	// Microversion is the compute microversion negotiated with the cloud.
	Microversion() string
}

// ServerSpec describes a server to boot.
type ServerSpec struct {
	Name     string
	FlavorID string
	ImageID  string
	// Networks the server is attached to, in order; at least one.
	Networks []ServerNetwork
	// SecurityGroups by name, applied to ports Nova creates (not to pre-made ports).
	SecurityGroups []string
	// UserData is passed as is (cloud-init config); this package base64-encodes it.
	UserData []byte
	// Metadata: at most 128 items, keys and values up to 255 characters.
	Metadata map[string]string
	// Tags: see Tag; at most MaxServerTags.
	Tags []string
	// ServerGroupID is passed as the scheduler hint "group".
	ServerGroupID    string
	AvailabilityZone string
	KeyName          string
	ConfigDrive      bool
}

// ServerNetwork attaches a server to a network, or to an existing port.
type ServerNetwork struct {
	NetworkID string
	PortID    string
	FixedIP   string
}

// Server is a Nova server as kubeseed sees it.
type Server struct {
	ID     string
	Name   string
	Status string // BUILD, ACTIVE, ERROR, SHUTOFF, DELETED...
	// Fault is Nova's explanation when Status is ERROR.
	Fault            string
	AvailabilityZone string
	Tags             []string
	Metadata         map[string]string
	// Addresses maps each network name to the server's IP addresses on it.
	Addresses map[string][]string
	Created   time.Time
}

// ServerGroup is a Nova server group.
type ServerGroup struct {
	ID      string
	Name    string
	Policy  string
	Members []string
}

// Flavor is a Nova flavor; the kubelet's reservations derive from VCPUs and RAMMiB.
type Flavor struct {
	ID, Name     string
	VCPUs        int
	RAMMiB       int
	DiskGiB      int
	EphemeralGiB int
	ExtraSpecs   map[string]string
}

// Image is a bootable image.
type Image struct {
	ID, Name string
	// Status in lower case: "active" when usable.
	Status     string
	MinDiskGiB int
	MinRAMMiB  int
	Tags       []string
}

// Server group policies.
const (
	PolicyAntiAffinity     = "anti-affinity"
	PolicySoftAntiAffinity = "soft-anti-affinity"
	PolicyAffinity         = "affinity"
	PolicySoftAffinity     = "soft-affinity"
)

// maxUserData is Nova's limit on the base64-encoded user_data.
const maxUserData = 65535

type compute struct {
	s     *session
	sc    *gophercloud.ServiceClient
	image *gophercloud.ServiceClient // nil: use Nova's image proxy
	mv    Microversion
}

var _ Compute = (*compute)(nil)

func (c *compute) Microversion() string { return c.mv.String() }

func validateServerSpec(spec ServerSpec) error {
	switch {
	case spec.Name == "":
		return invalidInput("server name is empty")
	case spec.FlavorID == "" || spec.ImageID == "":
		return invalidInput("server %s: flavor and image are required", spec.Name)
	case len(spec.Networks) == 0:
		return invalidInput("server %s: at least one network or port is required", spec.Name)
	case len(spec.Tags) > MaxServerTags:
		return invalidInput("server %s: %d tags, Nova allows %d", spec.Name, len(spec.Tags), MaxServerTags)
	case base64.StdEncoding.EncodedLen(len(spec.UserData)) > maxUserData:
		return invalidInput("server %s: user_data is %d bytes, %d once base64-encoded; Nova allows %d", spec.Name,
			len(spec.UserData), base64.StdEncoding.EncodedLen(len(spec.UserData)), maxUserData)
	}
	return validateTags(spec.Tags)
}

func (c *compute) CreateServer(ctx context.Context, spec ServerSpec) (*Server, error) {
	if err := validateServerSpec(spec); err != nil {
		return nil, fmt.Errorf("create server %s: %w", spec.Name, err)
	}
	nets := make([]servers.Network, 0, len(spec.Networks))
	for _, n := range spec.Networks {
		nets = append(nets, servers.Network{UUID: n.NetworkID, Port: n.PortID, FixedIP: n.FixedIP})
	}
	opts := servers.CreateOpts{
		Name:             spec.Name,
		ImageRef:         spec.ImageID,
		FlavorRef:        spec.FlavorID,
		Networks:         nets,
		SecurityGroups:   spec.SecurityGroups,
		Metadata:         spec.Metadata,
		Tags:             spec.Tags,
		AvailabilityZone: spec.AvailabilityZone,
	}
	if spec.UserData != nil {
		// Always encode: gophercloud passes through anything that already decodes as
		// base64, which would hand Nova the wrong bytes for user data that happens to.
		opts.UserData = []byte(base64.StdEncoding.EncodeToString(spec.UserData))
	}
	if spec.ConfigDrive {
		opts.ConfigDrive = &spec.ConfigDrive
	}
	var builder servers.CreateOptsBuilder = opts
	if spec.KeyName != "" {
		builder = keypairs.CreateOptsExt{CreateOptsBuilder: opts, KeyName: spec.KeyName}
	}
	var hints servers.SchedulerHintOptsBuilder
	if spec.ServerGroupID != "" {
		hints = servers.SchedulerHintOpts{Group: spec.ServerGroupID}
	}
	srv, err := servers.Create(ctx, c.sc, builder, hints).Extract()
	if err != nil {
		return nil, c.s.wrap(err, "create server %s", spec.Name)
	}
	return &Server{ID: srv.ID, Name: spec.Name, Tags: spec.Tags, Metadata: spec.Metadata}, nil
}

func (c *compute) GetServer(ctx context.Context, id string) (*Server, error) {
	srv, err := servers.Get(ctx, c.sc, id).Extract()
	if err != nil {
		return nil, c.s.wrap(err, "get server %s", id)
	}
	out := toServer(*srv)
	return &out, nil
}

func (c *compute) ListServers(ctx context.Context, tag string) ([]Server, error) {
	pages, err := servers.List(c.sc, servers.ListOpts{Tags: tag}).AllPages(ctx)
	if err != nil {
		return nil, c.s.wrap(err, "list servers tagged %q", tag)
	}
	list, err := servers.ExtractServers(pages)
	if err != nil {
		return nil, c.s.wrap(err, "list servers tagged %q", tag)
	}
	out := make([]Server, 0, len(list))
	for _, s := range list {
		out = append(out, toServer(s))
	}
	return out, nil
}

func (c *compute) DeleteServer(ctx context.Context, id string) error {
	return c.s.wrap(servers.Delete(ctx, c.sc, id).ExtractErr(), "delete server %s", id)
}

func (c *compute) SetServerMetadata(ctx context.Context, id string, metadata map[string]string) error {
	_, err := servers.UpdateMetadata(ctx, c.sc, id, servers.MetadataOpts(metadata)).Extract()
	return c.s.wrap(err, "set metadata of server %s", id)
}

func (c *compute) ServerUserData(ctx context.Context, id string) ([]byte, error) {
	res := servers.Get(ctx, c.sc, id)
	if res.Err != nil {
		return nil, c.s.wrap(res.Err, "get user_data of server %s", id)
	}
	body, _ := res.Body.(map[string]any)
	srv, _ := body["server"].(map[string]any)
	raw, ok := srv["OS-EXT-SRV-ATTR:user_data"]
	if !ok {
		// Nova leaves the extended attributes out for non-admins instead of refusing.
		return nil, fmt.Errorf("get user_data of server %s: %w", id, &APIError{Kind: ErrForbidden,
			Message: "Nova did not return OS-EXT-SRV-ATTR:user_data: reading it needs the admin role"})
	}
	if raw == nil {
		return nil, nil
	}
	encoded, ok := raw.(string)
	if !ok {
		return nil, fmt.Errorf("get user_data of server %s: OS-EXT-SRV-ATTR:user_data is a %T, not a string", id, raw)
	}
	data, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("get user_data of server %s: decode base64: %w", id, err)
	}
	return data, nil
}

func toServer(s servers.Server) Server {
	out := Server{
		ID:               s.ID,
		Name:             s.Name,
		Status:           s.Status,
		Fault:            CleanMessage(s.Fault.Message, MaxMessage),
		AvailabilityZone: s.AvailabilityZone,
		Metadata:         s.Metadata,
		Created:          s.Created,
	}
	if s.Tags != nil {
		out.Tags = *s.Tags
	}
	if len(s.Addresses) > 0 {
		out.Addresses = map[string][]string{}
		for network, v := range s.Addresses {
			list, _ := v.([]any)
			for _, a := range list {
				if m, ok := a.(map[string]any); ok {
					if ip, ok := m["addr"].(string); ok {
						out.Addresses[network] = append(out.Addresses[network], ip)
					}
				}
			}
		}
	}
	return out
}

func (c *compute) CreateServerGroup(ctx context.Context, name, policy string) (*ServerGroup, error) {
	switch policy {
	case PolicyAntiAffinity, PolicySoftAntiAffinity, PolicyAffinity, PolicySoftAffinity:
	default:
		return nil, fmt.Errorf("create server group %s: %w", name, invalidInput("unknown policy %q", policy))
	}
	opts := servergroups.CreateOpts{Name: name}
	if c.mv.AtLeast(computeServerGroupPolicy) {
		opts.Policy = policy
	} else {
		opts.Policies = []string{policy}
	}
	g, err := servergroups.Create(ctx, c.sc, opts).Extract()
	if err != nil {
		return nil, c.s.wrap(err, "create server group %s", name)
	}
	out := toServerGroup(*g)
	return &out, nil
}

func (c *compute) GetServerGroup(ctx context.Context, id string) (*ServerGroup, error) {
	g, err := servergroups.Get(ctx, c.sc, id).Extract()
	if err != nil {
		return nil, c.s.wrap(err, "get server group %s", id)
	}
	out := toServerGroup(*g)
	return &out, nil
}

func (c *compute) ListServerGroups(ctx context.Context) ([]ServerGroup, error) {
	pages, err := servergroups.List(c.sc, nil).AllPages(ctx)
	if err != nil {
		return nil, c.s.wrap(err, "list server groups")
	}
	list, err := servergroups.ExtractServerGroups(pages)
	if err != nil {
		return nil, c.s.wrap(err, "list server groups")
	}
	out := make([]ServerGroup, 0, len(list))
	for _, g := range list {
		out = append(out, toServerGroup(g))
	}
	return out, nil
}

func (c *compute) DeleteServerGroup(ctx context.Context, id string) error {
	return c.s.wrap(servergroups.Delete(ctx, c.sc, id).ExtractErr(), "delete server group %s", id)
}

func toServerGroup(g servergroups.ServerGroup) ServerGroup {
	out := ServerGroup{ID: g.ID, Name: g.Name, Members: g.Members}
	if g.Policy != nil {
		out.Policy = *g.Policy
	} else if len(g.Policies) > 0 {
		out.Policy = g.Policies[0]
	}
	return out
}

func (c *compute) GetFlavor(ctx context.Context, nameOrID string) (*Flavor, error) {
	f, err := flavors.Get(ctx, c.sc, nameOrID).Extract()
	if err == nil {
		out := toFlavor(*f)
		return &out, nil
	}
	if !IsNotFound(c.s.classify(err)) {
		return nil, c.s.wrap(err, "get flavor %s", nameOrID)
	}
	pages, err := flavors.ListDetail(c.sc, flavors.ListOpts{AccessType: flavors.PublicAccess}).AllPages(ctx)
	if err != nil {
		return nil, c.s.wrap(err, "find flavor %s", nameOrID)
	}
	list, err := flavors.ExtractFlavors(pages)
	if err != nil {
		return nil, c.s.wrap(err, "find flavor %s", nameOrID)
	}
	var found []Flavor
	for _, f := range list {
		if f.Name == nameOrID {
			found = append(found, toFlavor(f))
		}
	}
	if err := one("flavor", nameOrID, len(found)); err != nil {
		return nil, err
	}
	return &found[0], nil
}

func toFlavor(f flavors.Flavor) Flavor {
	return Flavor{ID: f.ID, Name: f.Name, VCPUs: f.VCPUs, RAMMiB: f.RAM, DiskGiB: f.Disk, EphemeralGiB: f.Ephemeral, ExtraSpecs: f.ExtraSpecs}
}

// one turns the number of resources found by name into the error a caller expects.
func one(kind, name string, n int) error {
	switch n {
	case 1:
		return nil
	case 0:
		return fmt.Errorf("find %s %s: %w", kind, name, &APIError{Kind: ErrNotFound, Message: fmt.Sprintf("no %s has the ID or name %q", kind, name)})
	}
	return fmt.Errorf("find %s %s: %w", kind, name, invalidInput("%d %ss are named %q: give the ID", n, kind, name))
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

func (c *compute) GetImage(ctx context.Context, nameOrID string) (*Image, error) {
	if c.image == nil {
		return c.getImageFromNova(ctx, nameOrID)
	}
	if uuidRE.MatchString(nameOrID) {
		img, err := images.Get(ctx, c.image, nameOrID).Extract()
		if err == nil {
			out := toImage(*img)
			return &out, nil
		}
		if !IsNotFound(c.s.classify(err)) {
			return nil, c.s.wrap(err, "get image %s", nameOrID)
		}
	}
	pages, err := images.List(c.image, images.ListOpts{Name: nameOrID}).AllPages(ctx)
	if err != nil {
		return nil, c.s.wrap(err, "find image %s", nameOrID)
	}
	list, err := images.ExtractImages(pages)
	if err != nil {
		return nil, c.s.wrap(err, "find image %s", nameOrID)
	}
	if err := one("image", nameOrID, len(list)); err != nil {
		return nil, err
	}
	out := toImage(list[0])
	return &out, nil
}

func toImage(i images.Image) Image {
	return Image{ID: i.ID, Name: i.Name, Status: strings.ToLower(string(i.Status)), MinDiskGiB: i.MinDiskGigabytes, MinRAMMiB: i.MinRAMMegabytes, Tags: i.Tags}
}

// novaImage is an image as Nova's proxy (/images, microversion ≤ 2.35) shows it.
type novaImage struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	MinDisk int    `json:"minDisk"`
	MinRAM  int    `json:"minRam"`
}

func (n novaImage) image() Image {
	return Image{ID: n.ID, Name: n.Name, Status: strings.ToLower(n.Status), MinDiskGiB: n.MinDisk, MinRAMMiB: n.MinRAM}
}

// getImageFromNova uses the image proxy Nova removed at 2.36: the client asks for 2.35.
func (c *compute) getImageFromNova(ctx context.Context, nameOrID string) (*Image, error) {
	sc := *c.sc
	sc.Microversion = computeImageProxyMax
	if uuidRE.MatchString(nameOrID) {
		var body struct {
			Image novaImage `json:"image"`
		}
		_, err := sc.Get(ctx, sc.ServiceURL("images", nameOrID), &body, nil) //nolint:bodyclose // gophercloud closes it after decoding JSON
		if err == nil {
			out := body.Image.image()
			return &out, nil
		}
		if !IsNotFound(c.s.classify(err)) {
			return nil, c.s.wrap(err, "get image %s", nameOrID)
		}
	}
	var body struct {
		Images []novaImage `json:"images"`
	}
	u := sc.ServiceURL("images", "detail") + "?name=" + url.QueryEscape(nameOrID)
	//nolint:bodyclose // gophercloud closes it after decoding JSON
	if _, err := sc.Get(ctx, u, &body, &gophercloud.RequestOpts{OkCodes: []int{http.StatusOK}}); err != nil {
		return nil, c.s.wrap(err, "find image %s", nameOrID)
	}
	if err := one("image", nameOrID, len(body.Images)); err != nil {
		return nil, err
	}
	out := body.Images[0].image()
	return &out, nil
}
