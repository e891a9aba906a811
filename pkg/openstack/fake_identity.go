package openstack

import (
	"context"
	"fmt"
)

// Identity

// Scope returns what SetScope set.
func (f *Fake) Scope(ctx context.Context) (Scope, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "Scope"); err != nil {
		return Scope{}, fmt.Errorf("token scope: %w", err)
	}
	return f.scope, nil
}
