package openstack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
)

// fakeObject is one stored object.
type fakeObject struct {
	data []byte
}

// EnsureContainer makes the container.
func (f *Fake) EnsureContainer(ctx context.Context, container string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "EnsureContainer"); err != nil {
		return fmt.Errorf("create container %s: %w", container, err)
	}
	if f.containers == nil {
		f.containers = map[string]map[string]*fakeObject{}
	}
	if f.containers[container] == nil {
		f.containers[container] = map[string]*fakeObject{}
	}
	return nil
}

// PutObject stores body whole, or nothing.
func (f *Fake) PutObject(ctx context.Context, container, name string, body io.Reader, _ PutOptions) (int64, error) {
	// A refused put reads nothing of the body, as a cloud that answers before it.
	f.mu.Lock()
	err := f.begin(ctx, "PutObject")
	f.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("put object %s/%s: %w", container, name, err)
	}
	// Read unlocked: the body may be produced by a goroutine that calls the fake.
	data, err := io.ReadAll(body)
	if err != nil {
		return 0, fmt.Errorf("put object %s/%s: %w", container, name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[container]
	if c == nil {
		return 0, fmt.Errorf("put object %s/%s: %w", container, name, notFound("Container", container))
	}
	c[name] = &fakeObject{data: data}
	return int64(len(data)), nil
}

// GetObject reads a stored object.
func (f *Fake) GetObject(ctx context.Context, container, name string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetObject"); err != nil {
		return nil, fmt.Errorf("get object %s/%s: %w", container, name, err)
	}
	obj := f.containers[container][name]
	if obj == nil {
		return nil, fmt.Errorf("get object %s/%s: %w", container, name, notFound("Object", name))
	}
	return io.NopCloser(bytes.NewReader(obj.data)), nil
}

// ListObjects lists by prefix, in name order.
func (f *Fake) ListObjects(ctx context.Context, container, prefix string, limit int) ([]ObjectInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListObjects"); err != nil {
		return nil, fmt.Errorf("list objects %s/%s*: %w", container, prefix, err)
	}
	c := f.containers[container]
	if c == nil {
		return nil, fmt.Errorf("list objects %s/%s*: %w", container, prefix, notFound("Container", container))
	}
	var out []ObjectInfo
	for n, o := range c {
		if strings.HasPrefix(n, prefix) {
			out = append(out, ObjectInfo{Name: n, Bytes: int64(len(o.data))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out[:min(len(out), limit)], nil
}

// DeleteObject deletes an object; a missing one is no error.
func (f *Fake) DeleteObject(ctx context.Context, container, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "DeleteObject"); err != nil {
		return fmt.Errorf("delete object %s/%s: %w", container, name, err)
	}
	delete(f.containers[container], name)
	return nil
}
