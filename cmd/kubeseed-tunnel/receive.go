package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// The receive command carries an etcd snapshot into the pod that restores a tenant's etcd
// (controllers/tenantcluster/restore.go). Its etcd image has no shell, so the pod's first
// container runs `receive --file F --wipe D`, which waits for F and then removes D (a data
// directory an earlier, failed attempt left half restored: the pod exists only while the
// tenant has no etcd), and the manager runs `receive --file F --write --size N --sha256 H`
// in it through the seed's exec API with the decrypted snapshot on stdin. The snapshot
// appears under F only whole and checked: N bytes, etcd's SHA-256 trailer H over the rest.
type receiveOptions struct {
	file, wipe string
	write      bool
	size       int64
	sha256     string
	timeout    time.Duration
}

func parseReceive(args []string, stderr io.Writer) (receiveOptions, error) {
	var o receiveOptions
	fs := flag.NewFlagSet("kubeseed-tunnel receive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.file, "file", "", "Where the snapshot appears.")
	fs.StringVar(&o.wipe, "wipe", "", "A directory removed once the snapshot is there (the data directory a failed restore left).")
	fs.BoolVar(&o.write, "write", false, "Write the snapshot from standard input instead of waiting for it.")
	fs.Int64Var(&o.size, "size", 0, "With --write: the snapshot's size in bytes, etcd's SHA-256 trailer included.")
	fs.StringVar(&o.sha256, "sha256", "", "With --write: the hex SHA-256 of the database, which its last 32 bytes must be.")
	fs.DurationVar(&o.timeout, "timeout", time.Hour, "How long to wait for the snapshot.")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.file == "":
		return o, errors.New("receive: --file is required")
	case o.write && (o.size <= sha256.Size || len(o.sha256) != 2*sha256.Size):
		return o, errors.New("receive --write: --size (more than 32) and a 64-digit --sha256 are required")
	}
	return o, nil
}

func runReceive(ctx context.Context, o receiveOptions, stdin io.Reader, stderr io.Writer) error {
	if o.write {
		if err := receiveSnapshot(stdin, o.file, o.size, o.sha256); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "received %d bytes into %s\n", o.size, o.file)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	for {
		if _, err := os.Stat(o.file); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no snapshot arrived in %s within %s", o.file, o.timeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
	if o.wipe != "" {
		if err := os.RemoveAll(o.wipe); err != nil {
			return fmt.Errorf("remove %s: %w", o.wipe, err)
		}
	}
	fmt.Fprintf(stderr, "snapshot %s is here\n", o.file)
	return nil
}

// receiveSnapshot writes exactly size bytes of r to file, through a temporary file renamed
// only once they are all there and their last 32 bytes are both the SHA-256 of the others
// and want: a cut or damaged stream never leaves a snapshot behind. It does not wait for the
// stream's end (an exec's stdin may not close it): the sums say it is whole.
func receiveSnapshot(r io.Reader, file string, size int64, want string) error {
	wantSum, err := hex.DecodeString(want)
	if err != nil || len(wantSum) != sha256.Size {
		return fmt.Errorf("--sha256 %q is not a hex SHA-256", want)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".receiving-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // a no-op once renamed
	h := sha256.New()
	db := size - sha256.Size
	if n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, db)); err != nil || n != db {
		_ = tmp.Close()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("received %d of %d bytes: %w", n, size, err)
	}
	trailer := make([]byte, sha256.Size)
	if _, err := io.ReadFull(r, trailer); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("the snapshot's SHA-256 trailer did not arrive: %w", err)
	}
	if sum := h.Sum(nil); !bytes.Equal(sum, trailer) || !bytes.Equal(sum, wantSum) {
		_ = tmp.Close()
		return fmt.Errorf("the database's SHA-256 is %x, its trailer says %x, --sha256 %s", sum, trailer, want)
	}
	if _, err := tmp.Write(trailer); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
