package cni

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Install copies every regular file of the directory from (symlinks followed, as in a
// mounted ConfigMap) into the directory to, making it, and returns the names it copied.
// Files whose content to already holds are skipped. Each copy is written beside its
// destination and renamed over it, executable: a plugin the runtime is running at that
// moment keeps its old inode, where writing in place would fail with "text file busy" or
// corrupt it.
func Install(from, to string) (copied []string, err error) {
	entries, err := os.ReadDir(from)
	if err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	for _, e := range entries {
		src := filepath.Join(from, e.Name())
		st, err := os.Stat(src)
		if err != nil {
			return copied, fmt.Errorf("install %s: %w", e.Name(), err)
		}
		if !st.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return copied, fmt.Errorf("install %s: %w", e.Name(), err)
		}
		changed, err := writeIfChanged(filepath.Join(to, e.Name()), data, 0o755)
		if err != nil {
			return copied, fmt.Errorf("install %s: %w", e.Name(), err)
		}
		if changed {
			copied = append(copied, e.Name())
		}
	}
	sort.Strings(copied)
	return copied, nil
}

// writeIfChanged writes data to path with mode perm, unless path holds data already: into
// a temporary file in path's directory (a dot file, which neither a CNI runtime reading
// *.conflist nor a shell's PATH picks up), renamed over path. Reports whether it wrote.
func writeIfChanged(path string, data []byte, perm fs.FileMode) (bool, error) {
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, data):
		return false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	// Removing the temporary file fails harmlessly once it was renamed.
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, err = tmp.Write(data)
	if err == nil {
		// Synced before the rename, so that a crash never leaves path empty.
		err = tmp.Sync()
	}
	if err == nil {
		// CreateTemp makes 0600 files; the umask must not decide a plugin's mode.
		err = tmp.Chmod(perm)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, nil
}
