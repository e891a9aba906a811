package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kubeseed/kubeseed/pkg/etcd"
)

func targets(n int) []etcd.Target {
	out := make([]etcd.Target, n)
	for i := range out {
		name := fmt.Sprintf("acme-etcd-%d", i)
		out[i] = etcd.Target{Name: name, PeerURL: "https://" + name + ".acme-etcd.p1.svc:2380"}
	}
	return out
}

// voter, learner and pending build members of ordinal i.
func voter(i int) etcd.Member {
	t := targets(i + 1)[i]
	return etcd.Member{ID: uint64(100 + i), Name: t.Name, PeerURLs: []string{t.PeerURL}, ClientURLs: []string{"https://x:2379"}, Healthy: true}
}

func learner(i int) etcd.Member {
	m := voter(i)
	m.IsLearner = true
	return m
}

func pending(i int) etcd.Member {
	t := targets(i + 1)[i]
	return etcd.Member{ID: uint64(100 + i), PeerURLs: []string{t.PeerURL}, IsLearner: true, Problem: "not started"}
}

func sick(m etcd.Member, problem string) etcd.Member {
	m.Healthy, m.Problem = false, problem
	return m
}

func members(ms ...etcd.Member) []etcd.Member { return ms }

func TestPlan(t *testing.T) {
	for _, c := range []struct {
		name           string
		desired        int
		members        []etcd.Member
		replicas       int32
		ready          int32
		want           etcd.Action
		wantTarget     string // name of Step.Target, "" for none
		wantReplicas   int32
		wantVoting     int
		reasonContains string
	}{
		{"one healthy member, three wanted: add the next learner", 3, members(voter(0)), 1, 1, etcd.AddLearner, "acme-etcd-1", 1, 1, "adding learner acme-etcd-1"},
		{"learner in the member list, no pod: grow by one", 3, members(voter(0), pending(1)), 1, 1, etcd.Grow, "acme-etcd-1", 2, 1, "starting acme-etcd-1"},
		{"learner's pod created, not started", 3, members(voter(0), pending(1)), 2, 1, etcd.Wait, "acme-etcd-1", 2, 1, "waiting for learner acme-etcd-1 to start"},
		{"learner started, not healthy", 3, members(voter(0), sick(learner(1), "no leader")), 2, 1, etcd.Wait, "acme-etcd-1", 2, 1, "no leader"},
		{"learner started and healthy: promote", 3, members(voter(0), learner(1)), 2, 1, etcd.Promote, "acme-etcd-1", 2, 1, "promoting learner acme-etcd-1"},
		{"learner ready but a voter is sick: no promotion", 5, members(voter(0), sick(voter(1), "alarm NOSPACE"), voter(2), learner(3)), 4, 2, etcd.Wait, "acme-etcd-1", 4, 3, "alarm NOSPACE"},
		{"two voters, three wanted, every pod ready: add the third", 3, members(voter(0), voter(1)), 2, 2, etcd.AddLearner, "acme-etcd-2", 2, 2, "adding learner acme-etcd-2"},
		{"two voters, a pod not ready yet", 3, members(voter(0), voter(1)), 2, 1, etcd.Wait, "", 2, 2, "1 of 2"},
		{"a voter is unhealthy: no new learner", 3, members(voter(0), sick(voter(1), "connection refused")), 2, 2, etcd.Wait, "acme-etcd-1", 2, 2, "acme-etcd-1 to be healthy"},
		{"last learner's pod exists and it caught up: promote", 3, members(voter(0), voter(1), learner(2)), 3, 2, etcd.Promote, "acme-etcd-2", 3, 2, "promoting"},
		{"three voters with pods: done", 3, members(voter(0), voter(1), voter(2)), 3, 3, etcd.Done, "", 3, 3, "3 voting members"},
		{"three to five: add the fourth", 5, members(voter(0), voter(1), voter(2)), 3, 3, etcd.AddLearner, "acme-etcd-3", 3, 3, "acme-etcd-3"},
		{"an orphan pod without a member gets its learner", 3, members(voter(0)), 2, 1, etcd.AddLearner, "acme-etcd-1", 2, 1, "adding learner"},
		{"two pending members get pods one at a time", 5, members(voter(0), voter(1), voter(2), pending(3), pending(4)), 3, 3, etcd.Grow, "acme-etcd-3", 4, 3, "starting acme-etcd-3"},
		{"no members reported", 3, nil, 1, 1, etcd.Wait, "", 1, 0, "no members"},
		{"more members than wanted", 1, members(voter(0), voter(1)), 2, 2, etcd.Blocked, "", 2, 0, "removing members is not supported"},
		{"a stranger in the member list", 3, members(voter(0), etcd.Member{ID: 7, Name: "other", PeerURLs: []string{"https://other:2380"}}), 1, 1, etcd.Blocked, "", 1, 1, "none of the StatefulSet's pods"},
		{"a gap in the ordinals with a pod: its member is added back", 3, members(voter(0), voter(2)), 3, 2, etcd.AddLearner, "acme-etcd-1", 3, 2, "adding acme-etcd-1 back as a learner"},
		{"a gap in the ordinals without a pod", 3, members(voter(0), voter(2)), 1, 1, etcd.Blocked, "acme-etcd-1", 1, 2, "acme-etcd-1 has no member"},
		{"more pods than members at the desired size", 1, members(voter(0)), 2, 1, etcd.Blocked, "", 2, 1, "2 pods for 1 members"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := etcd.Plan(etcd.Input{Targets: targets(c.desired), Members: c.members, Replicas: c.replicas, ReadyReplicas: c.ready})
			if got.Action != c.want || got.Target.Name != c.wantTarget || got.Replicas != c.wantReplicas || got.Desired != c.desired {
				t.Errorf("Plan = %+v, want %s of %q, replicas %d", got, c.want, c.wantTarget, c.wantReplicas)
			}
			if got.Action != etcd.Blocked && got.Voting != c.wantVoting {
				t.Errorf("Voting = %d, want %d", got.Voting, c.wantVoting)
			}
			if !strings.Contains(got.Reason, c.reasonContains) {
				t.Errorf("Reason %q does not say %q", got.Reason, c.reasonContains)
			}
			if got.Action == etcd.Promote && got.MemberID == 0 {
				t.Errorf("Promote without a member ID")
			}
		})
	}
}

// TestPlanReplacesALostMember: a started member whose data is lost is removed only while
// the others keep a quorum without it and all serve, then added back as a learner while
// its pod runs; a lone member, or one whose peers are down, is left for a restore.
func TestPlanReplacesALostMember(t *testing.T) {
	lost := func(ords ...int) []bool {
		out := make([]bool, 5)
		for _, o := range ords {
			out[o] = true
		}
		return out
	}
	down := func(m etcd.Member) etcd.Member { return sick(m, "connection refused") }
	for _, c := range []struct {
		name       string
		desired    int
		members    []etcd.Member
		replicas   int32
		lost       []bool
		want       etcd.Action
		wantTarget string
		wantMember uint64
		reason     string
	}{
		{"one of three lost its volume: removed", 3, members(voter(0), voter(1), down(voter(2))), 3, lost(2), etcd.Remove, "acme-etcd-2", 102, "removing acme-etcd-2, which lost its data"},
		{"then added back as a learner on its pod", 3, members(voter(0), voter(1)), 3, lost(2), etcd.AddLearner, "acme-etcd-2", 0, "adding learner acme-etcd-2"},
		{"the first member lost: removed, then its gap is filled", 3, members(down(voter(0)), voter(1), voter(2)), 3, lost(0), etcd.Remove, "acme-etcd-0", 100, "removing acme-etcd-0"},
		{"the gap of the first", 3, members(voter(1), voter(2)), 3, lost(0), etcd.AddLearner, "acme-etcd-0", 0, "adding acme-etcd-0 back"},
		{"the learner added back, not started yet: not removed again", 3, members(voter(0), voter(1), pending(2)), 3, lost(2), etcd.Wait, "acme-etcd-2", 0, "to start"},
		{"a lost learner is removed too", 3, members(voter(0), voter(1), down(learner(2))), 3, lost(2), etcd.Remove, "acme-etcd-2", 102, "removing"},
		{"a lone member lost: a restore", 1, members(down(voter(0))), 1, lost(0), etcd.Blocked, "acme-etcd-0", 0, "restore the tenant from a backup"},
		{"two of three lost: no quorum without them", 3, members(voter(0), down(voter(1)), down(voter(2))), 3, lost(1, 2), etcd.Wait, "acme-etcd-2", 0, "before it is replaced"},
		{"lost while another is down: wait", 5, members(voter(0), voter(1), down(voter(2)), voter(3), down(voter(4))), 5, lost(4), etcd.Wait, "acme-etcd-2", 0, "acme-etcd-4 lost its data; before it is replaced"},
		{"two voters, one lost: the other is a quorum of one", 2, members(voter(0), down(voter(1))), 2, lost(1), etcd.Remove, "acme-etcd-1", 101, "removing"},
		{"nothing lost: done", 3, members(voter(0), voter(1), voter(2)), 3, lost(), etcd.Done, "", 0, "3 voting members"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := etcd.Plan(etcd.Input{Targets: targets(c.desired), Members: c.members, Replicas: c.replicas, ReadyReplicas: c.replicas - 1, DataLost: c.lost})
			if got.Action != c.want || got.Target.Name != c.wantTarget || (c.wantMember != 0 && got.MemberID != c.wantMember) {
				t.Errorf("Plan = %+v, want %s of %q (member %d)", got, c.want, c.wantTarget, c.wantMember)
			}
			if !strings.Contains(got.Reason, c.reason) {
				t.Errorf("Reason %q does not say %q", got.Reason, c.reason)
			}
		})
	}
}

func TestDataLostIn(t *testing.T) {
	for msg, want := range map[string]bool{
		`{"level":"fatal","msg":"discovery failed","error":"member 8e9e05c52164694d has already been bootstrapped"}`:                                                                   true,
		`panic: tocommit(42) is out of range [lastIndex(0)]. Was the raft log corrupted, truncated, or lost?`:                                                                          true,
		`{"level":"fatal","msg":"failed to start etcd","error":"listen tcp 0.0.0.0:2379: bind: address already in use"}`:                                                               false,
		`{"level":"warn","msg":"failed to find remote peer in cluster","local-member-id":"8e9e05c52164694d","remote-peer-id":"x"}`:                                                     false,
		"{\"level\":\"info\"}\n{\"level\":\"panic\",\"msg\":\"tocommit(42) is out of range [lastIndex(0)]. Was the raft log corrupted, truncated, or lost?\"}\ngoroutine 1 [running]:": true,
		// A key a tenant's user chose, quoted by a warning, decides nothing.
		`{"level":"warn","msg":"apply request took too long","request":"key:\"/registry/roles/x/Was the raft log corrupted, truncated, or lost?\""}`: false,
		`{"level":"warn","msg":"has already been bootstrapped"}`:                                                                                     false,
		`member 8e9e05c52164694d has already been bootstrapped`:                                                                                      false,
		// Corrupt data, as etcd v3.6.16 says it (TestDataLostInARealCorruptMember).
		`{"level":"panic","caller":"backend/backend.go:205","msg":"failed to open database","path":"/var/lib/etcd/member/snap/db","error":"checksum error"}`: true,
		"panic: assertion failed: Page expected to be: 4, but self identifies as 0\n\ngoroutine 1 [running]:":                                                true,
		"unexpected fault address 0x7f8853c04000\nfatal error: fault\n[signal SIGBUS: bus error code=0x2 addr=0x7f8853c04000 pc=0xb93d8a]":                   true,
		`{"level":"fatal","msg":"discovery failed","error":"walpb: crc mismatch: expected: 28865fdc computed: 46169d74"}`:                                    true,
		`{"level":"warn","msg":"apply request took too long","request":"key:\"/registry/x/invalid database\""}`:                                              false,
		"fatal error: fault\n[signal SIGSEGV: segmentation violation]":                                                                                       false,
		"": false,
	} {
		if got := etcd.DataLostIn(msg); got != want {
			t.Errorf("DataLostIn(%q) = %v, want %v", msg, got, want)
		}
	}
}

func TestStepMessage(t *testing.T) {
	s := etcd.Plan(etcd.Input{Targets: targets(3), Members: members(voter(0), voter(1)), Replicas: 2, ReadyReplicas: 2})
	if got, want := s.Message(), "scaling etcd: 2 of 3 members, adding learner acme-etcd-2"; got != want {
		t.Errorf("Message() = %q, want %q", got, want)
	}
}

// TestPlanWithFakeScalesOneToFive follows the planner against Fake, acting as the
// StatefulSet would (a grown pod starts, a started member becomes ready once it votes), and
// checks that at most one member is ever outside the voting set.
func TestPlanWithFakeScalesOneToFive(t *testing.T) {
	ctx := context.Background()
	want := targets(5)
	f := etcd.NewFake(want[0])
	replicas := int32(1)
	var actions []etcd.Action
	for range 50 {
		ms, err := etcd.Observe(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		voting := 0
		for _, m := range ms {
			if !m.IsLearner {
				voting++
			}
		}
		if len(ms)-voting > 1 {
			t.Fatalf("%d learners at once: %+v", len(ms)-voting, ms)
		}
		// Voting members' pods are ready; a learner fails /readyz.
		step := etcd.Plan(etcd.Input{Targets: want, Members: ms, Replicas: replicas, ReadyReplicas: int32(voting)})
		actions = append(actions, step.Action)
		switch step.Action {
		case etcd.AddLearner:
			if _, err := f.AddLearner(ctx, step.Target.PeerURL); err != nil {
				t.Fatal(err)
			}
		case etcd.Grow:
			replicas = step.Replicas
		case etcd.Wait:
			// The pod the StatefulSet just created starts.
			if err := f.Start(step.Target.PeerURL, step.Target.Name); err != nil {
				t.Fatalf("%s: %v", step.Reason, err)
			}
		case etcd.Promote:
			if err := f.Promote(ctx, step.MemberID); err != nil {
				t.Fatal(err)
			}
		case etcd.Done:
			one := []etcd.Action{etcd.AddLearner, etcd.Grow, etcd.Wait, etcd.Promote}
			wantActions := append(slices.Repeat(one, 4), etcd.Done)
			if !slices.Equal(actions, wantActions) {
				t.Errorf("actions %v, want %v", actions, wantActions)
			}
			if replicas != 5 || len(ms) != 5 {
				t.Errorf("done with %d pods and %d members", replicas, len(ms))
			}
			return
		default:
			t.Fatalf("unexpected step %+v", step)
		}
	}
	t.Fatalf("not done after 50 steps: %v", actions)
}

func TestFakePromoteRefusesUnstartedLearner(t *testing.T) {
	ctx := context.Background()
	f := etcd.NewFake(targets(1)...)
	m, err := f.AddLearner(ctx, targets(2)[1].PeerURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Promote(ctx, m.ID); !errors.Is(err, etcd.ErrLearnerNotReady) {
		t.Errorf("Promote of an unstarted learner: %v, want ErrLearnerNotReady", err)
	}
	if _, err := f.AddLearner(ctx, targets(3)[2].PeerURL); err == nil {
		t.Errorf("a second pending learner was accepted")
	}
}
