//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/install"
	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// magnumClusterLabel marks every seed object the Magnum driver (contrib/magnum) makes for
// one Magnum cluster; its value is the cluster's uuid.
const magnumClusterLabel = "kubeseed.io/magnum-cluster"

// osCLI runs the `openstack` CLI as one cloud of the test cloud's clouds.yaml, as a person
// would type it.
type osCLI struct {
	clouds, cloud string
}

func (o osCLI) run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/openstack", args...)
	cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+o.clouds, "OS_CLOUD="+o.cloud)
	// python3-magnumclient 4.0.0's `coe cluster config` reads os.environ['SHELL'] and fails
	// with KeyError 'SHELL' when it is unset, as it is under CI.
	if os.Getenv("SHELL") == "" {
		cmd.Env = append(cmd.Env, "SHELL=/bin/sh")
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("openstack %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (o osCLI) must(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := o.run(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// magnumCluster is what `openstack coe cluster show -f json` prints, the fields the test reads.
type magnumCluster struct {
	UUID               string `json:"uuid"`
	Status             string `json:"status"`
	StatusReason       string `json:"status_reason"`
	NodeCount          int    `json:"node_count"`
	MasterCount        int    `json:"master_count"`
	APIAddress         string `json:"api_address"`
	COEVersion         string `json:"coe_version"`
	HealthStatus       string `json:"health_status"`
	HealthStatusReason any    `json:"health_status_reason"`
	ProjectID          string `json:"project_id"`
	UpdatedAt          string `json:"updated_at"`
	StackID            string `json:"stack_id"`
}

func (o osCLI) cluster(ctx context.Context, name string) (*magnumCluster, error) {
	out, err := o.run(ctx, "coe", "cluster", "show", name, "-f", "json")
	if err != nil {
		return nil, err
	}
	var c magnumCluster
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		return nil, fmt.Errorf("parse coe cluster show: %w: %s", err, out)
	}
	return &c, nil
}

// waitMagnum waits for the cluster's status to become want; with afterProgress, only once
// it was seen *_IN_PROGRESS (an operation's call returns before the conductor marks it, so
// the previous COMPLETE must not count). Any *_FAILED ends the wait with Magnum's
// status_reason, which must say why.
func (o osCLI) waitMagnum(t *testing.T, ctx context.Context, name, want string, afterProgress bool, timeout time.Duration) *magnumCluster {
	t.Helper()
	start := time.Now()
	var last *magnumCluster
	progressed := !afterProgress
	err := wait.PollUntilContextTimeout(ctx, 3*time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		c, err := o.cluster(ctx, name)
		if err != nil {
			t.Logf("%v", err)
			return false, nil
		}
		if last == nil || last.Status != c.Status || last.StatusReason != c.StatusReason {
			t.Logf("%5.1fs magnum cluster %s: %s %s", time.Since(start).Seconds(), name, c.Status, c.StatusReason)
		}
		last = c
		if strings.HasSuffix(c.Status, "_IN_PROGRESS") {
			progressed = true
		}
		if c.Status != want && strings.HasSuffix(c.Status, "_FAILED") && progressed {
			return false, fmt.Errorf("%s: %s", c.Status, c.StatusReason)
		}
		return c.Status == want && progressed, nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("magnum cluster %s not %s within %s: %v (last %+v)", name, want, timeout, err, last)
	}
	t.Logf("magnum cluster %s %s after %.1fs", name, want, time.Since(start).Seconds())
	return last
}

// writeMagnumKubeconfig gives the test cloud's Magnum its kubeconfig for the seed: the
// ServiceAccount kubeseed-magnum (chart value magnum.enabled), as docs/magnum.md tells an
// admin to make it.
func writeMagnumKubeconfig(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	tr, err := clients.CoreV1().ServiceAccounts(install.DefaultNamespace).CreateToken(ctx, "kubeseed-magnum",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a token for kubeseed-magnum (is the chart installed with magnum.enabled?): %v", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["seed"] = &clientcmdapi.Cluster{Server: restConfig.Host, CertificateAuthorityData: restConfig.CAData}
	if len(restConfig.CAData) == 0 && restConfig.CAFile != "" {
		cfg.Clusters["seed"].CertificateAuthority = restConfig.CAFile
	}
	cfg.AuthInfos["kubeseed-magnum"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["magnum"] = &clientcmdapi.Context{Cluster: "seed", AuthInfo: "kubeseed-magnum"}
	cfg.CurrentContext = "magnum"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	// Written beside and renamed: the driver reads the file at every call.
	if err := clientcmd.WriteToFile(*cfg, path+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// TestMagnumDrivesKubeseed is the customer's whole Magnum flow, through the `openstack` CLI
// only, against the test cloud's real Magnum (magnum-api and magnum-conductor with
// contrib/magnum's driver): template, create, config, resize, delete, and nothing left.
func TestMagnumDrivesKubeseed(t *testing.T) {
	cloud := openStackCloud(t)
	host, ok := provider.(seed.MachineHost)
	if !ok {
		t.Skip("this seed provider cannot start extra machines (kind); see docs/seed.md")
	}
	env := func(k string) string {
		v := cloud.env[k]
		if v == "" {
			t.Fatalf("the test cloud's openstack.env has no %s: is Magnum part of it (make openstack-up)?", k)
		}
		return v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	writeMagnumKubeconfig(t, ctx, env("KUBESEED_MAGNUM_KUBECONFIG"))
	startDataPlane(t, ctx, cloud, host)

	clouds := os.Getenv("KUBESEED_OPENSTACK_CLOUDS")
	customer := osCLI{clouds: clouds, cloud: env("KUBESEED_MAGNUM_CLOUD")}
	admin := osCLI{clouds: clouds, cloud: "admin"}
	suffix := randomHex(t, 3)
	template, name := "kubeseed-e2e-"+suffix, "e2e-"+suffix

	// Two templates: the cluster starts at the minor before the newest and is upgraded to it.
	newTemplate := template + "-next"
	for tmpl, version := range map[string]string{template: olderVersion, newTemplate: versions.Default} {
		customer.must(t, ctx, "coe", "cluster", "template", "create", tmpl, "--coe", "kubernetes",
			"--image", env("KUBESEED_MAGNUM_IMAGE"), "--external-network", env("KUBESEED_OPENSTACK_EXTERNAL_NETWORK"),
			"--fixed-network", env("KUBESEED_OPENSTACK_CUSTOMER_NETWORK"), "--fixed-subnet", env("KUBESEED_OPENSTACK_CUSTOMER_SUBNET"),
			"--flavor", env("KUBESEED_OPENSTACK_FLAVOR"), "--master-flavor", env("KUBESEED_OPENSTACK_FLAVOR"),
			"--network-driver", "flannel", "--floating-ip-disabled", "--master-lb-enabled",
			"--labels", "kube_tag="+version+",etcd_volume_size=1")
		t.Cleanup(func() {
			if _, err := customer.run(context.Background(), "coe", "cluster", "template", "delete", tmpl); err != nil {
				t.Logf("delete template: %v", err)
			}
		})
	}

	t.Run("a cluster over quota fails and names the quota", func(t *testing.T) {
		// No load balancer may be made in the project for this one: its endpoint cannot be.
		project := env("KUBESEED_OPENSTACK_CUSTOMER_PROJECT")
		admin.must(t, ctx, "loadbalancer", "quota", "set", "--loadbalancer", "0", project)
		defer admin.must(t, context.Background(), "loadbalancer", "quota", "reset", project)
		quotaName := name + "-q"
		customer.must(t, ctx, "coe", "cluster", "create", quotaName, "--cluster-template", template,
			"--master-count", "1", "--node-count", "1", "--timeout", "1")
		t.Cleanup(func() { deleteMagnumCluster(t, customer, quotaName) })
		c := customer.waitMagnum(t, ctx, quotaName, "CREATE_FAILED", false, 4*time.Minute)
		if !strings.Contains(c.StatusReason, "QuotaExceeded") || !strings.Contains(c.StatusReason, "load_balancer") {
			t.Errorf("status_reason %q does not name the quota (QuotaExceeded … load_balancer)", c.StatusReason)
		}
		customer.must(t, ctx, "coe", "cluster", "delete", quotaName)
		waitMagnumGone(t, ctx, customer, quotaName)
	})

	fipArgs := []string{"floating", "ip", "list", "--project", env("KUBESEED_OPENSTACK_CUSTOMER_PROJECT"), "-f", "value", "-c", "ID"}
	fipsBefore := strings.Fields(admin.must(t, ctx, fipArgs...))
	start := time.Now()
	customer.must(t, ctx, "coe", "cluster", "create", name, "--cluster-template", template, "--master-count", "1", "--node-count", "2")
	t.Cleanup(func() { deleteMagnumCluster(t, customer, name) })
	c := customer.waitMagnum(t, ctx, name, "CREATE_COMPLETE", false, 12*time.Minute)
	t.Logf("coe cluster create → CREATE_COMPLETE with 2 workers: %.1fs", time.Since(start).Seconds())
	if c.NodeCount != 2 || c.COEVersion != olderVersion || !strings.HasPrefix(c.APIAddress, "https://") {
		t.Errorf("coe cluster show = %+v, want node_count 2, coe_version %s and an https api_address", c, olderVersion)
	}

	// The seed holds what the driver made, in the project's namespace.
	sel := client.MatchingLabels{magnumClusterLabel: c.UUID}
	var tcs v1alpha1.TenantClusterList
	if err := kube.List(ctx, &tcs, sel); err != nil || len(tcs.Items) != 1 {
		t.Fatalf("TenantClusters labelled for %s: %d (%v), want 1", c.UUID, len(tcs.Items), err)
	}
	tc := &tcs.Items[0]
	if tc.Status.Endpoint != c.APIAddress {
		t.Errorf("api_address %s, TenantCluster status.endpoint %s", c.APIAddress, tc.Status.Endpoint)
	}
	logMagnumLag(t, ctx, tc, c, sel)

	// `coe cluster config` signs a client certificate with Magnum's CA: the tenant trusts it.
	dir := t.TempDir()
	customer.must(t, ctx, "coe", "cluster", "config", name, "--dir", dir, "--force")
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "config"))
	if err != nil {
		t.Fatalf("the kubeconfig of coe cluster config: %v", err)
	}
	tenant := kubernetes.NewForConfigOrDie(cfg)
	nodes := readyNodes(t, ctx, tenant, 2)

	t.Run("resize", func(t *testing.T) {
		start := time.Now()
		customer.must(t, ctx, "coe", "cluster", "resize", name, "3")
		c := customer.waitMagnum(t, ctx, name, "UPDATE_COMPLETE", true, 8*time.Minute)
		t.Logf("resize 2 → 3: UPDATE_COMPLETE after %.1fs", time.Since(start).Seconds())
		if c.NodeCount != 3 {
			t.Errorf("node_count = %d after a resize to 3", c.NodeCount)
		}
		readyNodes(t, ctx, tenant, 3)

		// The named node goes; the other removal is kubeseed's choice.
		victim := nodes[0]
		customer.must(t, ctx, "coe", "cluster", "resize", name, "1", "--nodes-to-remove", victim)
		c = customer.waitMagnum(t, ctx, name, "UPDATE_COMPLETE", true, 8*time.Minute)
		if c.NodeCount != 1 {
			t.Errorf("node_count = %d after a resize to 1", c.NodeCount)
		}
		left := readyNodes(t, ctx, tenant, 1)
		if slices.Contains(left, victim) {
			t.Errorf("node %s named in --nodes-to-remove is still there: %v", victim, left)
		}
	})

	t.Run("upgrade", func(t *testing.T) {
		start := time.Now()
		customer.must(t, ctx, "coe", "cluster", "upgrade", name, newTemplate)
		c := customer.waitMagnum(t, ctx, name, "UPDATE_COMPLETE", true, 10*time.Minute)
		t.Logf("coe cluster upgrade %s → %s: UPDATE_COMPLETE after %.1fs", olderVersion, versions.Default, time.Since(start).Seconds())
		if c.COEVersion != versions.Default {
			t.Errorf("coe_version = %s after the upgrade, want %s", c.COEVersion, versions.Default)
		}
		// COMPLETE means done: every node already runs the new version.
		list, err := tenant.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range list.Items {
			if n.Status.NodeInfo.KubeletVersion != versions.Default || !nodeIsReady(&n) {
				t.Errorf("node %s: kubelet %s, Ready %v at UPDATE_COMPLETE, want %s and Ready", n.Name, n.Status.NodeInfo.KubeletVersion, nodeIsReady(&n), versions.Default)
			}
		}
		if v, err := tenant.Discovery().ServerVersion(); err != nil || v.GitVersion != versions.Default {
			t.Errorf("the tenant's apiserver serves %v (%v), want %s", v, err, versions.Default)
		}
	})

	t.Run("nodegroups", func(t *testing.T) {
		start := time.Now()
		customer.must(t, ctx, "coe", "nodegroup", "create", name, "extra", "--node-count", "1")
		waitNodegroup(t, ctx, customer, name, "extra", "CREATE_COMPLETE")
		t.Logf("coe nodegroup create (1 node) → CREATE_COMPLETE: %.1fs", time.Since(start).Seconds())
		readyNodes(t, ctx, tenant, 2)
		customer.must(t, ctx, "coe", "nodegroup", "delete", name, "extra")
		waitNodegroup(t, ctx, customer, name, "extra", "")
		readyNodes(t, ctx, tenant, 1)
	})

	t.Run("health", func(t *testing.T) {
		// Magnum's monitor runs once a minute for a cluster at rest (the driver's get_monitor
		// reads kubeseed's conditions).
		var last *magnumCluster
		err := wait.PollUntilContextTimeout(ctx, 5*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			c, err := customer.cluster(ctx, name)
			if err != nil {
				return false, nil
			}
			last = c
			return c.HealthStatus == "HEALTHY", nil
		})
		if err != nil {
			t.Fatalf("health_status never HEALTHY: %+v", last)
		}
		if last.NodeCount != 1 {
			t.Errorf("node_count = %d with one node in the default nodegroup", last.NodeCount)
		}
	})

	t.Run("delete leaves nothing", func(t *testing.T) {
		defer func() {
			if fips := strings.Fields(admin.must(t, ctx, fipArgs...)); !slices.Equal(fips, fipsBefore) {
				t.Errorf("floating IPs of the project: %v before the cluster, %v after", fipsBefore, fips)
			}
		}()
		start := time.Now()
		customer.must(t, ctx, "coe", "cluster", "delete", name)
		waitMagnumGone(t, ctx, customer, name)
		t.Logf("coe cluster delete → gone: %.1fs", time.Since(start).Seconds())

		var tcs v1alpha1.TenantClusterList
		var pools v1alpha1.WorkerPoolList
		if err := kube.List(ctx, &tcs, sel); err != nil || len(tcs.Items) > 0 {
			t.Errorf("TenantClusters left for %s: %d (%v)", c.UUID, len(tcs.Items), err)
		}
		if err := kube.List(ctx, &pools, sel); err != nil || len(pools.Items) > 0 {
			t.Errorf("WorkerPools left for %s: %d (%v)", c.UUID, len(pools.Items), err)
		}
		secrets, err := clients.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: magnumClusterLabel + "=" + c.UUID})
		if err != nil || len(secrets.Items) > 0 {
			t.Errorf("Secrets left for %s: %v (%v)", c.UUID, secrets, err)
		}
		// The driver deletes the project's namespace once nothing is left in it; its
		// termination finishes on its own.
		err = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := clients.CoreV1().Namespaces().Get(ctx, tc.Namespace, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			t.Errorf("namespace %s is still there with nothing of Magnum's in it", tc.Namespace)
		}
		for what, args := range map[string][]string{
			"servers":        {"server", "list", "--all-projects", "--project", c.ProjectID, "-f", "value", "-c", "Name"},
			"load balancers": {"loadbalancer", "list", "--project", c.ProjectID, "-f", "value", "-c", "name"},
			// Magnum's trustee for the cluster is named after it.
			"trustees": {"user", "list", "--domain", "magnum", "-f", "value", "-c", "Name"},
		} {
			out, err := admin.run(ctx, args...)
			if err != nil {
				t.Errorf("list %s: %v", what, err)
				continue
			}
			for _, line := range strings.Fields(out) {
				if strings.Contains(line, name) || strings.Contains(line, c.UUID) || strings.Contains(line, tc.Name) {
					t.Errorf("%s left in the cloud: %s", what, line)
				}
			}
		}
	})
}

// logMagnumLag logs how long after the seed was done (the last Ready condition of the
// TenantCluster and its pools turning True) Magnum recorded COMPLETE: its periodic poll.
func logMagnumLag(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, c *magnumCluster, sel client.MatchingLabels) {
	t.Helper()
	var pools v1alpha1.WorkerPoolList
	if err := kube.List(ctx, &pools, sel); err != nil {
		t.Logf("lag: %v", err)
		return
	}
	conds := [][]metav1.Condition{tc.Status.Conditions}
	for _, p := range pools.Items {
		conds = append(conds, p.Status.Conditions)
	}
	var done time.Time
	for _, cs := range conds {
		if r := meta.FindStatusCondition(cs, v1alpha1.ReadyCondition); r != nil && r.LastTransitionTime.After(done) {
			done = r.LastTransitionTime.Time
		}
	}
	updated, err := time.Parse("2006-01-02T15:04:05-07:00", c.UpdatedAt)
	if err != nil {
		t.Logf("lag: updated_at %q: %v", c.UpdatedAt, err)
		return
	}
	t.Logf("seed Ready → Magnum %s: %.1fs (Magnum polls every 10 s)", c.Status, updated.Sub(done).Seconds())
}

// deleteMagnumCluster deletes a cluster through Magnum, as a user would, and waits for it
// to go, so that a failed test leaves nothing running (and its templates can go after it).
func deleteMagnumCluster(t *testing.T, customer osCLI, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if _, err := customer.run(ctx, "coe", "cluster", "show", name); err != nil {
		return
	}
	if _, err := customer.run(ctx, "coe", "cluster", "delete", name); err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	_ = wait.PollUntilContextCancel(ctx, 3*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := customer.run(ctx, "coe", "cluster", "show", name)
		return err != nil && strings.Contains(err.Error(), "could not be found"), nil
	})
}

// waitMagnumGone waits until Magnum no longer knows the cluster: its driver finished the
// delete (DELETE_COMPLETE) and Magnum destroyed it.
func waitMagnumGone(t *testing.T, ctx context.Context, customer osCLI, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 3*time.Second, 8*time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := customer.cluster(ctx, name)
		if err != nil {
			return strings.Contains(err.Error(), "could not be found"), nil
		}
		if strings.HasSuffix(got.Status, "_FAILED") {
			return false, fmt.Errorf("%s: %s", got.Status, got.StatusReason)
		}
		return false, nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("magnum cluster %s not gone: %v", name, err)
	}
}

// waitNodegroup waits for a nodegroup's status; want "" waits until it is gone.
func waitNodegroup(t *testing.T, ctx context.Context, customer osCLI, cluster, ng, want string) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 3*time.Second, 8*time.Minute, true, func(ctx context.Context) (bool, error) {
		out, err := customer.run(ctx, "coe", "nodegroup", "show", cluster, ng, "-f", "json")
		if err != nil {
			return want == "" && strings.Contains(err.Error(), "could not be found"), nil
		}
		var got struct {
			Status       string `json:"status"`
			StatusReason string `json:"status_reason"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			return false, err
		}
		if s := got.Status + " " + got.StatusReason; s != last {
			t.Logf("nodegroup %s/%s: %s", cluster, ng, s)
			last = s
		}
		if strings.HasSuffix(got.Status, "_FAILED") {
			return false, fmt.Errorf("%s: %s", got.Status, got.StatusReason)
		}
		return got.Status == want, nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("nodegroup %s/%s not %q: %v (last %s)", cluster, ng, want, err, last)
	}
}

// readyNodes waits until the tenant has exactly n Nodes, all Ready, and returns their names.
func readyNodes(t *testing.T, ctx context.Context, tenant kubernetes.Interface, n int) []string {
	t.Helper()
	var names []string
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 6*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := tenant.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		names = names[:0]
		ready := 0
		for i := range list.Items {
			names = append(names, list.Items[i].Name)
			if nodeIsReady(&list.Items[i]) {
				ready++
			}
		}
		return len(names) == n && ready == n, nil
	})
	if err != nil {
		dumpNodes(t, tenant, names)
		t.Fatalf("the tenant has nodes %v, want %d Ready", names, n)
	}
	slices.Sort(names)
	return names
}
