package openstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func decodeBody(t *testing.T, r *http.Request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		t.Errorf("request body: %v", err)
	}
	return m
}

func TestCreateServerRequest(t *testing.T) {
	c := newTestCloud(t)
	var got map[string]any
	c.handle("POST /compute/v2.1/"+testProject+"/servers", func(w http.ResponseWriter, r *http.Request) {
		got = decodeBody(t, r)
		writeJSON(w, 202, `{"server": {"id": "`+testServerID+`", "links": [], "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": "default"}], "adminPass": "x"}}`)
	})
	// "abcd" is valid base64 itself: it must still be encoded, or Nova would get 3 bytes.
	userData := []byte("abcd")
	tag := PoolTag("5c0b3f2e-1b8e-4a59-8f0e-7e3a1c2d4b6f")
	s, err := c.clients(Options{}).Compute.CreateServer(context.Background(), ServerSpec{
		Name: "acme-pool-a-0", FlavorID: "1", ImageID: "f90f6034-2570-4974-8351-6b49732ef2eb",
		Networks: []ServerNetwork{{NetworkID: "4e8e5957-649f-477b-9e5b-f1f75b21c03c"}, {PortID: "65c0ee9f-d634-4522-8954-51021b570b0d"}},
		UserData: userData, Metadata: map[string]string{"pool": "acme-pool-a"}, Tags: []string{tag},
		ServerGroupID: "616fb98f-46ca-475e-917e-2563e5a8cd19", AvailabilityZone: "az1", KeyName: "ops",
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != testServerID || s.Name != "acme-pool-a-0" {
		t.Errorf("server = %+v", s)
	}
	srv, _ := got["server"].(map[string]any)
	if srv["user_data"] != base64.StdEncoding.EncodeToString(userData) {
		t.Errorf("user_data = %v, want base64 of %q", srv["user_data"], userData)
	}
	if tags, _ := srv["tags"].([]any); len(tags) != 1 || tags[0] != tag {
		t.Errorf("tags = %v", srv["tags"])
	}
	if srv["availability_zone"] != "az1" || srv["key_name"] != "ops" || srv["metadata"].(map[string]any)["pool"] != "acme-pool-a" {
		t.Errorf("server body = %v", srv)
	}
	if nets, _ := srv["networks"].([]any); len(nets) != 2 || nets[1].(map[string]any)["port"] != "65c0ee9f-d634-4522-8954-51021b570b0d" {
		t.Errorf("networks = %v", srv["networks"])
	}
	if hints, _ := got["os:scheduler_hints"].(map[string]any); hints["group"] != "616fb98f-46ca-475e-917e-2563e5a8cd19" {
		t.Errorf("scheduler hints = %v", got["os:scheduler_hints"])
	}
}

func TestCreateServerRefusedLocally(t *testing.T) {
	c := newTestCloud(t)
	cl := c.clients(Options{})
	base := ServerSpec{Name: "s", FlavorID: "1", ImageID: "i", Networks: []ServerNetwork{{NetworkID: "n"}}}
	for name, mutate := range map[string]func(*ServerSpec){
		"no network":     func(s *ServerSpec) { s.Networks = nil },
		"slash in tag":   func(s *ServerSpec) { s.Tags = []string{"kubeseed.io/tenant-uid=x"} },
		"long tag":       func(s *ServerSpec) { s.Tags = []string{strings.Repeat("x", 61)} },
		"big user data":  func(s *ServerSpec) { s.UserData = make([]byte, 50000) },
		"too many tags":  func(s *ServerSpec) { s.Tags = make([]string, 51) },
		"no flavor":      func(s *ServerSpec) { s.FlavorID = "" },
		"empty name tag": func(s *ServerSpec) { s.Tags = []string{""} },
	} {
		spec := base
		mutate(&spec)
		if _, err := cl.Compute.CreateServer(context.Background(), spec); !IsInvalidInput(err) {
			t.Errorf("%s: err = %v, want ErrInvalidInput", name, err)
		}
	}
	if n := c.requests.Load(); n != 0 {
		t.Errorf("%d requests sent for refused specs", n)
	}
}

func TestServerUserData(t *testing.T) {
	c := newTestCloud(t)
	var body atomic.Value
	c.handle("GET "+testServerPath, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, body.Load().(string)) })
	cl := c.clients(Options{})
	want := "#cloud-config\nruncmd: [kubeadm join]\n"
	body.Store(`{"server": {"id": "` + testServerID + `", "status": "ACTIVE", "OS-EXT-SRV-ATTR:user_data": "` + base64.StdEncoding.EncodeToString([]byte(want)) + `"}}`)
	got, err := cl.Compute.ServerUserData(context.Background(), testServerID)
	if err != nil || string(got) != want {
		t.Errorf("user data = %q, %v", got, err)
	}
	body.Store(`{"server": {"id": "` + testServerID + `", "status": "ACTIVE", "OS-EXT-SRV-ATTR:user_data": null}}`)
	if got, err := cl.Compute.ServerUserData(context.Background(), testServerID); err != nil || got != nil {
		t.Errorf("no user data = %q, %v", got, err)
	}
	body.Store(novaServerBody) // what a non-admin sees: no extended attributes
	if _, err := cl.Compute.ServerUserData(context.Background(), testServerID); !IsForbidden(err) {
		t.Errorf("non-admin: err = %v, want ErrForbidden", err)
	}
}

func TestGetServerAndList(t *testing.T) {
	c := newTestCloud(t)
	var query string
	c.respond("GET "+testServerPath, 200, novaServerBody)
	c.handle("GET /compute/v2.1/"+testProject+"/servers/detail", func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		writeJSON(w, 200, `{"servers": [`+strings.TrimSuffix(strings.TrimPrefix(novaServerBody, `{"server": `), "}")+`]}`)
	})
	cl := c.clients(Options{})
	s, err := cl.Compute.GetServer(context.Background(), testServerID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "ACTIVE" || s.Addresses["private"][0] != "10.0.0.31" || len(s.Tags) != 1 || s.AvailabilityZone != "nova" || s.Metadata["kubeseed.io-pool"] != "acme-pool-a" {
		t.Errorf("server = %+v", s)
	}
	tag := PoolTag("5c0b3f2e-1b8e-4a59-8f0e-7e3a1c2d4b6f")
	list, err := cl.Compute.ListServers(context.Background(), tag)
	if err != nil || len(list) != 1 || list[0].ID != testServerID {
		t.Errorf("list = %+v, %v", list, err)
	}
	if !strings.Contains(query, "tags=kubeseed.io%3Apool-uid%3D5c0b3f2e") {
		t.Errorf("list query %q does not filter by the tag", query)
	}
}

func TestServerGroupPolicyByMicroversion(t *testing.T) {
	for _, tt := range []struct{ nova, field string }{{"2.93", "policy"}, {"2.60", "policies"}} {
		c := newTestCloud(t)
		c.novaVersion = tt.nova
		var got map[string]any
		c.handle("POST /compute/v2.1/"+testProject+"/os-server-groups", func(w http.ResponseWriter, r *http.Request) {
			got = decodeBody(t, r)
			writeJSON(w, 200, `{"server_group": {"id": "616fb98f-46ca-475e-917e-2563e5a8cd19", "name": "acme-pool-a", "policy": "soft-anti-affinity", "rules": {}, "members": [], "project_id": "`+testProject+`", "user_id": "u"}}`)
		})
		g, err := c.clients(Options{}).Compute.CreateServerGroup(context.Background(), "acme-pool-a", PolicySoftAntiAffinity)
		if err != nil || g.Policy != PolicySoftAntiAffinity {
			t.Fatalf("server group = %+v, %v", g, err)
		}
		if _, ok := got["server_group"].(map[string]any)[tt.field]; !ok {
			t.Errorf("Nova %s: request %v lacks %q", tt.nova, got, tt.field)
		}
	}
}

func TestFlavorAndImageLookup(t *testing.T) {
	c := newTestCloud(t)
	c.respond("GET /compute/v2.1/"+testProject+"/flavors/m1.large", 404, `{"itemNotFound": {"code": 404, "message": "Flavor m1.large could not be found."}}`)
	c.respond("GET /compute/v2.1/"+testProject+"/flavors/detail", 200, `{"flavors": [
		{"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1, "OS-FLV-EXT-DATA:ephemeral": 0, "os-flavor-access:is_public": true, "links": []},
		{"id": "4", "name": "m1.large", "vcpus": 4, "ram": 8192, "disk": 80, "OS-FLV-EXT-DATA:ephemeral": 0, "os-flavor-access:is_public": true, "links": []}]}`)
	c.respond("GET /image/v2/images", 200, `{"images": [{"id": "f90f6034-2570-4974-8351-6b49732ef2eb", "name": "ubuntu-24.04-kube-v1.34", "status": "active",
		"min_disk": 10, "min_ram": 0, "tags": [], "visibility": "public", "container_format": "bare", "disk_format": "qcow2"}], "schema": "/v2/schemas/images"}`)
	cl := c.clients(Options{})
	f, err := cl.Compute.GetFlavor(context.Background(), "m1.large")
	if err != nil || f.ID != "4" || f.VCPUs != 4 || f.RAMMiB != 8192 {
		t.Errorf("flavor = %+v, %v", f, err)
	}
	img, err := cl.Compute.GetImage(context.Background(), "ubuntu-24.04-kube-v1.34")
	if err != nil || img.ID != "f90f6034-2570-4974-8351-6b49732ef2eb" || img.Status != "active" || img.MinDiskGiB != 10 {
		t.Errorf("image = %+v, %v", img, err)
	}
	if _, err := cl.Compute.GetFlavor(context.Background(), "m1.huge"); !IsNotFound(err) {
		t.Errorf("unknown flavor: err = %v", err)
	}
}

// Without Glance in the catalog, images are found through Nova's proxy at 2.35.
func TestImageThroughNova(t *testing.T) {
	c := newTestCloud(t)
	c.endpoints["image"] = ""
	var header string
	c.handle("GET /compute/v2.1/"+testProject+"/images/detail", func(w http.ResponseWriter, r *http.Request) {
		header = r.Header.Get("X-OpenStack-Nova-API-Version")
		if r.URL.Query().Get("name") != "cirros" {
			t.Errorf("query = %q", r.URL.RawQuery)
		}
		writeJSON(w, 200, `{"images": [{"id": "70a599e0-31e7-49b7-b260-868f441e862b", "name": "cirros", "status": "ACTIVE", "minDisk": 1, "minRam": 64, "metadata": {}, "links": []}]}`)
	})
	img, err := c.clients(Options{}).Compute.GetImage(context.Background(), "cirros")
	if err != nil || img.ID != "70a599e0-31e7-49b7-b260-868f441e862b" || img.Status != "active" || img.MinRAMMiB != 64 {
		t.Errorf("image = %+v, %v", img, err)
	}
	if header != "2.35" {
		t.Errorf("image proxy asked with microversion %q, want 2.35", header)
	}
}

const neutronPort = `{"port": {"id": "65c0ee9f-d634-4522-8954-51021b570b0d", "name": "acme-pool-a-0", "network_id": "4e8e5957-649f-477b-9e5b-f1f75b21c03c",
	"admin_state_up": true, "status": "DOWN", "mac_address": "fa:16:3e:c9:cb:f0", "fixed_ips": [{"subnet_id": "a0304c3a-4f08-4c43-88af-d796509c97d2", "ip_address": "10.0.0.2"}],
	"device_id": "", "device_owner": "", "security_groups": ["f0ac4394-7e4a-4409-9701-ba8be283dbc3"], "tags": [], "project_id": "` + testProject + `", "revision_number": 1}}`

func TestCreatePortTagsIt(t *testing.T) {
	c := newTestCloud(t)
	c.respond("POST /network/v2.0/ports", 201, neutronPort)
	var tags map[string]any
	c.handle("PUT /network/v2.0/ports/65c0ee9f-d634-4522-8954-51021b570b0d/tags", func(w http.ResponseWriter, r *http.Request) {
		tags = decodeBody(t, r)
		writeJSON(w, 200, `{"tags": ["`+TenantTag("6a1c0f8e-2d3b-4c5a-9e8f-7d6c5b4a3e2d")+`"]}`)
	})
	tag := TenantTag("6a1c0f8e-2d3b-4c5a-9e8f-7d6c5b4a3e2d")
	p, err := c.clients(Options{}).Network.CreatePort(context.Background(), PortSpec{Name: "acme-pool-a-0", NetworkID: "4e8e5957-649f-477b-9e5b-f1f75b21c03c", Tags: []string{tag}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := tags["tags"].([]any); len(got) != 1 || got[0] != tag {
		t.Errorf("tags request = %v", tags)
	}
	if len(p.Tags) != 1 || p.FixedIPs[0].IPAddress != "10.0.0.2" {
		t.Errorf("port = %+v", p)
	}
}

// A port that cannot be tagged would never be found again: it is deleted at once.
func TestCreatePortTagFailureDeletes(t *testing.T) {
	c := newTestCloud(t)
	c.respond("POST /network/v2.0/ports", 201, neutronPort)
	c.respond("PUT /network/v2.0/ports/65c0ee9f-d634-4522-8954-51021b570b0d/tags", 400,
		`{"NeutronError": {"type": "HTTPBadRequest", "message": "Invalid input for tags.", "detail": ""}}`)
	var deleted atomic.Bool
	c.handle("DELETE /network/v2.0/ports/65c0ee9f-d634-4522-8954-51021b570b0d", func(w http.ResponseWriter, _ *http.Request) {
		deleted.Store(true)
		w.WriteHeader(204)
	})
	_, err := c.clients(Options{}).Network.CreatePort(context.Background(), PortSpec{Name: "p", NetworkID: "n", Tags: []string{"kubeseed.io:role=worker"}})
	if !IsInvalidInput(err) || !deleted.Load() {
		t.Errorf("err = %v, deleted = %v", err, deleted.Load())
	}
}

func TestFloatingIPDetach(t *testing.T) {
	c := newTestCloud(t)
	var got map[string]any
	c.handle("PUT /network/v2.0/floatingips/2f245a7b-796b-4f26-9cf9-9e82d248fda7", func(w http.ResponseWriter, r *http.Request) {
		got = decodeBody(t, r)
		writeJSON(w, 200, `{"floatingip": {"id": "2f245a7b-796b-4f26-9cf9-9e82d248fda7", "floating_network_id": "376da547-b977-4cfe-9cba-275c80debf57",
			"floating_ip_address": "172.24.4.228", "port_id": null, "fixed_ip_address": null, "status": "DOWN", "tags": []}}`)
	})
	f, err := c.clients(Options{}).Network.AssociateFloatingIP(context.Background(), "2f245a7b-796b-4f26-9cf9-9e82d248fda7", "")
	if err != nil || f.PortID != "" || f.Address != "172.24.4.228" {
		t.Errorf("floating IP = %+v, %v", f, err)
	}
	if v, ok := got["floatingip"].(map[string]any)["port_id"]; !ok || v != nil {
		t.Errorf("detach request = %v, want port_id null", got)
	}
}

const octaviaLB = `{"loadbalancer": {"id": "607226db-27ef-4d41-ae89-f2a800e9c2db", "name": "acme-apiserver", "description": "",
	"provisioning_status": "%s", "operating_status": "OFFLINE", "admin_state_up": true, "project_id": "` + testProject + `",
	"vip_address": "10.0.0.10", "vip_port_id": "b4ca07d1-a31e-43e2-891a-7d14f419f342", "vip_subnet_id": "a0304c3a-4f08-4c43-88af-d796509c97d2",
	"vip_network_id": "4e8e5957-649f-477b-9e5b-f1f75b21c03c", "listeners": [], "pools": [], "provider": "amphora", "flavor_id": null,
	"availability_zone": null, "tags": ["kubeseed.io:tenant-uid=6a1c0f8e-2d3b-4c5a-9e8f-7d6c5b4a3e2d"]}}`

func lbBody(status string) string { return strings.Replace(octaviaLB, "%s", status, 1) }

func TestLoadBalancerLifecycle(t *testing.T) {
	c := newTestCloud(t)
	var created map[string]any
	c.handle("POST /load-balancer/v2.0/lbaas/loadbalancers", func(w http.ResponseWriter, r *http.Request) {
		created = decodeBody(t, r)
		writeJSON(w, 201, lbBody("PENDING_CREATE"))
	})
	lbPath := "/load-balancer/v2.0/lbaas/loadbalancers/607226db-27ef-4d41-ae89-f2a800e9c2db"
	gets := c.sequence("GET "+lbPath, response{200, lbBody("PENDING_CREATE")}, response{200, lbBody("PENDING_CREATE")}, response{200, lbBody("ACTIVE")})
	var cascade string
	c.handle("DELETE "+lbPath, func(w http.ResponseWriter, r *http.Request) {
		cascade = r.URL.Query().Get("cascade")
		w.WriteHeader(204)
	})
	cl := c.clients(Options{})
	tag := TenantTag("6a1c0f8e-2d3b-4c5a-9e8f-7d6c5b4a3e2d")
	lb, err := cl.LoadBalancer.CreateLoadBalancer(context.Background(), LBSpec{Name: "acme-apiserver", VIPSubnetID: "a0304c3a-4f08-4c43-88af-d796509c97d2", Tags: []string{tag}})
	if err != nil || lb.ProvisioningStatus != StatusPendingCreate {
		t.Fatalf("lb = %+v, %v", lb, err)
	}
	if tags, _ := created["loadbalancer"].(map[string]any)["tags"].([]any); len(tags) != 1 || tags[0] != tag {
		t.Errorf("create request = %v", created)
	}
	lb, err = WaitForLoadBalancer(context.Background(), cl.LoadBalancer, lb.ID, time.Millisecond)
	if err != nil || lb.ProvisioningStatus != StatusActive || gets.Load() != 3 || lb.VIPAddress != "10.0.0.10" {
		t.Errorf("after wait: %+v, %v, %d polls", lb, err, gets.Load())
	}
	if err := cl.LoadBalancer.DeleteLoadBalancer(context.Background(), lb.ID, true); err != nil || cascade != "true" {
		t.Errorf("cascade delete: %v, cascade=%q", err, cascade)
	}
}

func TestWaitForLoadBalancerError(t *testing.T) {
	c := newTestCloud(t)
	c.respond("GET /load-balancer/v2.0/lbaas/loadbalancers/607226db-27ef-4d41-ae89-f2a800e9c2db", 200, lbBody("ERROR"))
	_, err := WaitForLoadBalancer(context.Background(), c.clients(Options{}).LoadBalancer, "607226db-27ef-4d41-ae89-f2a800e9c2db", time.Millisecond)
	if !IsProvisioningFailed(err) {
		t.Errorf("err = %v, want ErrProvisioningFailed", err)
	}
}

func TestUserAgent(t *testing.T) {
	c := newTestCloud(t)
	var ua string
	c.handle("GET "+testServerPath, func(w http.ResponseWriter, r *http.Request) {
		ua = r.Header.Get("User-Agent")
		_, _ = io.WriteString(w, novaServerBody)
	})
	if _, err := c.clients(Options{}).Compute.GetServer(context.Background(), testServerID); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ua, "kubeseed gophercloud") {
		t.Errorf("User-Agent %q", ua)
	}
}
