package etcd

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Target is the member the StatefulSet pod of one ordinal runs: its name (the pod's,
// etcd's --name) and its peer URL.
type Target struct {
	Name    string
	PeerURL string
}

// Input is everything Plan looks at.
type Input struct {
	// Targets has one entry per ordinal, 0 up to the desired size less one.
	Targets []Target
	// Members is etcd's member list, with health filled in by Observe.
	Members []Member
	// Replicas is the StatefulSet's spec.replicas, ReadyReplicas its status.readyReplicas.
	Replicas, ReadyReplicas int32
	// DataLost marks, by ordinal, a pod whose etcd refuses to start because its member's
	// data is gone or unreadable (DataLostIn): its volume was replaced, wiped or damaged.
	DataLost []bool
}

// Action is what the next step does.
type Action string

// Actions, in the order a new member goes through them.
const (
	// AddLearner adds Step.Target as a non-voting member; its pod does not exist yet.
	AddLearner Action = "AddLearner"
	// Grow raises the StatefulSet to Step.Replicas, starting the learner's pod.
	Grow Action = "Grow"
	// Promote makes the started, caught-up learner Step.MemberID a voting member.
	Promote Action = "Promote"
	// Remove takes Step.MemberID, whose data is lost, out of the cluster; the next steps
	// add it back as a learner, to start on an empty data directory.
	Remove Action = "Remove"
	// Wait: nothing is safe to do now; Step.Reason says what is awaited.
	Wait Action = "Wait"
	// Blocked: the cluster is in a shape kubeseed does not repair; a person must look.
	Blocked Action = "Blocked"
	// Done: every target is a started, voting member and has its pod.
	Done Action = "Done"
)

// Step is the single next step towards the desired size.
type Step struct {
	Action Action
	// Target is the member the step concerns, when there is one.
	Target Target
	// MemberID is the learner to promote or the member to remove.
	MemberID uint64
	// Replicas is the StatefulSet's size once the step is taken.
	Replicas int32
	// Voting and Desired count voting members now and members wanted.
	Voting, Desired int
	// Reason says what the step does or waits for, for a person.
	Reason string
}

// Message summarises the step for a condition, e.g. "scaling etcd: 1 of 3 members,
// adding learner acme-etcd-1".
func (s Step) Message() string {
	return fmt.Sprintf("scaling etcd: %d of %d members, %s", s.Voting, s.Desired, s.Reason)
}

// Plan decides the next single safe step to grow the cluster to len(in.Targets) members,
// one member at a time, so that a quorum is never at risk: a new member joins as a learner
// (it does not vote, so a learner that never starts costs no quorum), is added only while
// every member is started and healthy and no other learner is pending, gets its pod only
// once it is in the member list (so it starts into a cluster that expects it), and votes
// only once it runs and has caught up. The one member Plan removes is one whose data is
// lost (Input.DataLost), and only while the others keep a quorum without it: it comes
// back as a learner, as a new member would.
func Plan(in Input) Step {
	desired := len(in.Targets)
	s := Step{Desired: desired, Replicas: in.Replicas}
	n := len(in.Members)
	if n == 0 {
		return s.with(Wait, Target{}, "etcd reports no members")
	}
	if n > desired {
		return s.with(Blocked, Target{}, fmt.Sprintf("etcd has %d members, more than the %d wanted: removing members is not supported", n, desired))
	}

	// Members map to ordinals by peer URL: a learner that has not started has no name yet.
	byOrdinal := make([]*Member, desired)
	for i := range in.Members {
		m := &in.Members[i]
		ord := slices.IndexFunc(in.Targets, func(t Target) bool { return slices.Contains(m.PeerURLs, t.PeerURL) })
		switch {
		case ord < 0:
			return s.with(Blocked, Target{}, fmt.Sprintf("member %x (%s, peer URLs %v) is none of the StatefulSet's pods", m.ID, m.Name, m.PeerURLs))
		case byOrdinal[ord] != nil:
			return s.with(Blocked, in.Targets[ord], fmt.Sprintf("two members have the peer URL of %s", in.Targets[ord].Name))
		}
		byOrdinal[ord] = m
		if !m.IsLearner {
			s.Voting++
		}
	}
	if step, ok := s.replaceLost(in, byOrdinal); ok {
		return step
	}
	// Members are added in ordinal order, so they hold ordinals 0..n-1.
	for i := range n {
		if byOrdinal[i] == nil {
			return s.with(Blocked, in.Targets[i], fmt.Sprintf("%s has no member while a higher ordinal has one", in.Targets[i].Name))
		}
	}

	// A member without a pod: start its pod, one at a time.
	if int(in.Replicas) < n {
		t := in.Targets[in.Replicas]
		s.Replicas = in.Replicas + 1
		return s.with(Grow, t, "starting "+t.Name)
	}

	// A pending learner: promote it once it runs and every member is healthy.
	for i := range n {
		m := byOrdinal[i]
		if !m.IsLearner {
			continue
		}
		t := in.Targets[i]
		switch {
		case !m.Started():
			return s.with(Wait, t, fmt.Sprintf("waiting for learner %s to start", t.Name))
		case !m.Healthy:
			return s.with(Wait, t, fmt.Sprintf("waiting for learner %s to be healthy: %s", t.Name, m.Problem))
		}
		if w, ok := unhealthy(byOrdinal[:n], in.Targets); ok {
			return s.with(Wait, w.Target, w.Reason)
		}
		s.MemberID = m.ID
		return s.with(Promote, t, "promoting learner "+t.Name)
	}

	if n == desired {
		if int(in.Replicas) == n {
			return s.with(Done, Target{}, fmt.Sprintf("%d voting members", n))
		}
		return s.with(Blocked, Target{}, fmt.Sprintf("the StatefulSet has %d pods for %d members", in.Replicas, n))
	}

	// Room for one more: only into a cluster whose every member serves.
	if w, ok := unhealthy(byOrdinal[:n], in.Targets); ok {
		return s.with(Wait, w.Target, w.Reason)
	}
	if int(in.ReadyReplicas) < n {
		return s.with(Wait, Target{}, fmt.Sprintf("waiting for every member's pod to be ready, %d of %d are", in.ReadyReplicas, n))
	}
	t := in.Targets[n]
	return s.with(AddLearner, t, "adding learner "+t.Name)
}

func (s Step) with(a Action, t Target, reason string) Step {
	s.Action, s.Target, s.Reason = a, t, reason
	return s
}

// unhealthy finds the first member, by ordinal, that is not started or not healthy.
func unhealthy(members []*Member, targets []Target) (Step, bool) {
	for i, m := range members {
		switch {
		case !m.Started():
			return Step{Target: targets[i], Reason: fmt.Sprintf("waiting for member %s to start", targets[i].Name)}, true
		case !m.Healthy:
			return Step{Target: targets[i], Reason: fmt.Sprintf("waiting for member %s to be healthy: %s", targets[i].Name, m.Problem)}, true
		}
	}
	return Step{}, false
}

// replaceLost removes a started member whose data is lost, or adds back as a learner the
// member of an ordinal left without one (removed for that), while its pod runs: a member
// cannot start on an empty volume under its old ID. Either only while every other member
// serves and, for a removal, the remaining voters keep a quorum; a single member cannot be
// replaced (its data exists nowhere else: restore it from a backup).
func (s Step) replaceLost(in Input, byOrdinal []*Member) (Step, bool) {
	others := func(skip int) (*Step, int) {
		healthy := 0
		for j, m := range byOrdinal {
			if j == skip || m == nil {
				continue
			}
			if !m.Started() || !m.Healthy {
				w, _ := unhealthy([]*Member{m}, in.Targets[j:j+1])
				return &w, 0
			}
			if !m.IsLearner {
				healthy++
			}
		}
		return nil, healthy
	}
	for i, m := range byOrdinal {
		if m == nil || !m.Started() || i >= len(in.DataLost) || !in.DataLost[i] {
			continue
		}
		t := in.Targets[i]
		voters := s.Voting
		if !m.IsLearner {
			voters--
		}
		if voters == 0 {
			return s.with(Blocked, t, fmt.Sprintf("%s lost its data and no other member holds it: restore the tenant from a backup (docs/backups.md)", t.Name)), true
		}
		wait, healthy := others(i)
		if wait != nil {
			return s.with(Wait, wait.Target, fmt.Sprintf("%s lost its data; before it is replaced, %s", t.Name, wait.Reason)), true
		}
		if healthy < voters/2+1 {
			return s.with(Blocked, t, fmt.Sprintf("%s lost its data and the other members hold no quorum without it: restore the tenant from a backup (docs/backups.md)", t.Name)), true
		}
		s.MemberID = m.ID
		return s.with(Remove, t, fmt.Sprintf("removing %s, which lost its data, to add it back as a learner", t.Name)), true
	}
	// A gap below the highest member's ordinal: its member was removed (above).
	highest := len(byOrdinal) - 1
	for highest >= 0 && byOrdinal[highest] == nil {
		highest--
	}
	for i := 0; i < highest && i < int(in.Replicas); i++ {
		if byOrdinal[i] != nil {
			continue
		}
		t := in.Targets[i]
		if wait, _ := others(i); wait != nil {
			return s.with(Wait, wait.Target, fmt.Sprintf("%s is to be added back as a learner; before that, %s", t.Name, wait.Reason)), true
		}
		return s.with(AddLearner, t, fmt.Sprintf("adding %s back as a learner, to start on an empty data directory", t.Name)), true
	}
	return s, false
}

// dataLostSignatures are what etcd v3.6 says when the member's data is gone or unreadable
// (TestDataLostInARealCorruptMember makes each happen to a real etcd):
//   - it starts on an empty data directory as a member the cluster already has: with
//     --initial-cluster-state=new it refuses, with existing it panics at the leader's first
//     heartbeat (its log is not where the leader left it);
//   - its bbolt database is corrupt: both meta pages unreadable ("failed to open database"
//     with "invalid database" or "checksum error"), or a page is not what its parent says
//     (bbolt's "Page expected to be" assertion);
//   - its write-ahead log is corrupt before its end ("walpb: crc mismatch"; a torn last
//     record etcd repairs by itself).
//
// None happens to a member whose data is there and readable.
var dataLostSignatures = []string{
	"has already been bootstrapped",
	"Was the raft log corrupted, truncated, or lost?",
	"invalid database",
	"checksum error",
	"Page expected to be",
	"crc mismatch",
}

// sigbus starts the Go runtime's line for a bus error, which etcd meets only reading its
// memory-mapped database past the end of a truncated (or unreadable) file.
const sigbus = "[signal SIGBUS"

// DataLostIn says whether an etcd container's last words (its termination message, or the
// end of its log) say its member's data is gone or corrupt. Only etcd's verdict counts: a
// log record of level fatal or panic, the Go runtime's "panic: " line, or its bus-error
// line. Other records quote keys a tenant's users choose (slow-request warnings), and must
// not decide anything.
func DataLostIn(lastWords string) bool {
	for _, line := range strings.Split(lastWords, "\n") {
		line = strings.TrimSpace(line)
		var verdict string
		switch {
		case strings.HasPrefix(line, sigbus):
			return true
		case strings.HasPrefix(line, "panic: "):
			verdict = line
		case strings.HasPrefix(line, "{"):
			var rec struct{ Level, Msg, Error string }
			if json.Unmarshal([]byte(line), &rec) != nil || rec.Level != "fatal" && rec.Level != "panic" {
				continue
			}
			verdict = rec.Msg + "\n" + rec.Error
		default:
			continue
		}
		for _, sig := range dataLostSignatures {
			if strings.Contains(verdict, sig) {
				return true
			}
		}
	}
	return false
}
