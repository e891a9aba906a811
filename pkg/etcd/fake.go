package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Fake is an in-memory etcd membership for tests that run no etcd (envtest runs no pods).
// It answers like etcd as far as Client goes: a learner added has no name until Start,
// Promote refuses a learner that has not started, only one learner may be pending, and
// MemberHealth reports what SetProblem said. Safe for concurrent use; Close does nothing,
// so one Fake serves many reconciles.
type Fake struct {
	mu       sync.Mutex
	members  []Member
	nextID   uint64
	problems map[string]string // by member name
	err      error
	calls    []string
}

var _ Client = (*Fake)(nil)

// NewFake starts a fake cluster whose targets are started, voting members, as after a
// bootstrap.
func NewFake(running ...Target) *Fake {
	f := &Fake{nextID: 1, problems: map[string]string{}}
	for _, t := range running {
		f.members = append(f.members, Member{ID: f.id(), Name: t.Name, PeerURLs: []string{t.PeerURL}, ClientURLs: []string{fakeClientURL(t.Name)}})
	}
	return f
}

func fakeClientURL(name string) string { return "https://" + name + ":2379" }

func (f *Fake) id() uint64 {
	id := f.nextID
	f.nextID++
	return id
}

// Start marks the member at peerURL as running under name, as its pod would.
func (f *Fake) Start(peerURL, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.members {
		if slices.Contains(f.members[i].PeerURLs, peerURL) {
			f.members[i].Name, f.members[i].ClientURLs = name, []string{fakeClientURL(name)}
			return nil
		}
	}
	return fmt.Errorf("fake etcd: no member at %s", peerURL)
}

// SetProblem makes MemberHealth of the named member fail with problem; "" heals it.
func (f *Fake) SetProblem(name, problem string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if problem == "" {
		delete(f.problems, name)
		return
	}
	f.problems[name] = problem
}

// SetError makes every call fail with err (an unreachable cluster); nil restores it.
func (f *Fake) SetError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// Calls lists the membership changes made, e.g. "AddLearner https://…" or "Promote 2".
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Members lists a copy of the members.
func (f *Fake) Members(context.Context) ([]Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := make([]Member, len(f.members))
	for i, m := range f.members {
		m.PeerURLs, m.ClientURLs = slices.Clone(m.PeerURLs), slices.Clone(m.ClientURLs)
		out[i] = m
	}
	return out, nil
}

// AddLearner adds an unstarted learner, refusing a second one or a known peer URL.
func (f *Fake) AddLearner(_ context.Context, peerURL string) (Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return Member{}, f.err
	}
	for _, m := range f.members {
		switch {
		case m.IsLearner:
			return Member{}, errors.New("fake etcd: too many learner members in cluster")
		case slices.Contains(m.PeerURLs, peerURL):
			return Member{}, errors.New("fake etcd: peer URLs already exists")
		}
	}
	m := Member{ID: f.id(), PeerURLs: []string{peerURL}, IsLearner: true}
	f.members = append(f.members, m)
	f.calls = append(f.calls, "AddLearner "+peerURL)
	return m, nil
}

// Promote promotes a started learner; an unstarted one is ErrLearnerNotReady.
func (f *Fake) Promote(_ context.Context, id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	for i := range f.members {
		m := &f.members[i]
		if m.ID != id {
			continue
		}
		switch {
		case !m.IsLearner:
			return errors.New("fake etcd: can only promote a learner member")
		case !m.Started():
			return ErrLearnerNotReady
		}
		m.IsLearner = false
		f.calls = append(f.calls, fmt.Sprintf("Promote %d", id))
		return nil
	}
	return fmt.Errorf("fake etcd: member %d not found", id)
}

// Remove removes member id.
func (f *Fake) Remove(_ context.Context, id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	i := slices.IndexFunc(f.members, func(m Member) bool { return m.ID == id })
	if i < 0 {
		return fmt.Errorf("fake etcd: member %d not found", id)
	}
	f.members = slices.Delete(f.members, i, i+1)
	f.calls = append(f.calls, fmt.Sprintf("Remove %d", id))
	return nil
}

// MemberHealth fails for an unstarted member or one SetProblem named.
func (f *Fake) MemberHealth(_ context.Context, m Member) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if !m.Started() {
		return fmt.Errorf("fake etcd: member %d has not started", m.ID)
	}
	if p, ok := f.problems[m.Name]; ok {
		return errors.New(p)
	}
	return nil
}

// Close does nothing.
func (f *Fake) Close() error { return nil }
