package backup

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Runner runs backups off the reconcile, at most Workers at once, one per tenant, and keeps
// each tenant's last result for the reconcile to record. Results live in memory: a manager
// that restarts takes a due backup again, as the status still says it is due.
type Runner struct {
	// Workers bounds concurrent backups (each streams one snapshot); 2 when 0.
	Workers int
	// Timeout bounds one backup; 30 minutes when 0.
	Timeout time.Duration
	// Done is called, off the caller's goroutine, when a tenant's backup finished: the
	// controller enqueues the tenant.
	Done func(key string)

	mu      sync.Mutex
	sem     chan struct{}
	running map[string]bool
	results map[string]Result
	ctx     context.Context
}

// Start implements manager.Runnable: backups run until ctx ends.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	r.ctx = ctx
	r.mu.Unlock()
	<-ctx.Done()
	return nil
}

// NeedLeaderElection says only the leader takes backups.
func (r *Runner) NeedLeaderElection() bool { return true }

// Submit starts job for key unless one is running; it says whether it started one. The
// result replaces key's previous one when it ends.
func (r *Runner) Submit(key string, job Job) bool {
	return r.submit(key, func(ctx context.Context) Result { return Run(ctx, job) })
}

// SubmitFunc runs f for key as Submit runs a backup, sharing its slots and timeout: the
// restore's snapshot stream, which reads Swift as a backup writes it. The result has
// Started, Duration and f's error.
func (r *Runner) SubmitFunc(key string, f func(ctx context.Context) error) bool {
	return r.submit(key, func(ctx context.Context) Result {
		res := Result{Started: time.Now()}
		res.Err = f(ctx)
		res.Duration = time.Since(res.Started)
		return res
	})
}

func (r *Runner) submit(key string, run func(ctx context.Context) Result) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running == nil {
		r.running, r.results = map[string]bool{}, map[string]Result{}
		w := r.Workers
		if w <= 0 {
			w = 2
		}
		r.sem = make(chan struct{}, w)
	}
	if r.running[key] {
		return false
	}
	base := r.ctx
	if base == nil {
		base = context.Background() // not started by a manager: tests
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 30 * time.Minute
	}
	r.running[key] = true
	go func() {
		var res Result
		func() {
			defer func() {
				if p := recover(); p != nil {
					res = Result{Started: time.Now(), Err: fmt.Errorf("backup panicked: %v", p)}
				}
			}()
			select {
			case r.sem <- struct{}{}:
				defer func() { <-r.sem }()
			case <-base.Done():
				res = Result{Started: time.Now(), Err: base.Err()}
				return
			}
			ctx, cancel := context.WithTimeout(base, timeout)
			defer cancel()
			res = run(ctx)
		}()
		r.mu.Lock()
		delete(r.running, key)
		r.results[key] = res
		r.mu.Unlock()
		if r.Done != nil {
			r.Done(key)
		}
	}()
	return true
}

// State gives key's last finished result, if any, and whether a backup of key runs now, as
// of one instant.
func (r *Runner) State(key string) (res Result, finished, running bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, finished = r.results[key]
	return res, finished, r.running[key]
}

// Forget drops key's result: its tenant is gone.
func (r *Runner) Forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.results, key)
}
