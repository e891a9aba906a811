package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// snapshotOf is db with etcd's trailer: the SHA-256 of db.
func snapshotOf(db []byte) ([]byte, string) {
	sum := sha256.Sum256(db)
	return append(bytes.Clone(db), sum[:]...), hex.EncodeToString(sum[:])
}

func TestReceiveSnapshot(t *testing.T) {
	db := bytes.Repeat([]byte("etcd"), 10000)
	snap, sum := snapshotOf(db)
	damaged := bytes.Clone(snap)
	damaged[100] ^= 1
	_, otherSum := snapshotOf([]byte("another database"))
	for _, tc := range []struct {
		name    string
		stream  []byte
		size    int64
		sha     string
		wantErr string
	}{
		{name: "whole", stream: snap, size: int64(len(snap)), sha: sum},
		{name: "cut short", stream: snap[:len(snap)-40], size: int64(len(snap)), sha: sum, wantErr: "received"},
		{name: "trailer cut", stream: snap[:len(snap)-10], size: int64(len(snap)), sha: sum, wantErr: "trailer did not arrive"},
		{name: "too short a size", stream: snap, size: int64(len(snap)) - 1, sha: sum, wantErr: "SHA-256"},
		{name: "damaged", stream: damaged, size: int64(len(snap)), sha: sum, wantErr: "SHA-256"},
		{name: "another snapshot's sum", stream: snap, size: int64(len(snap)), sha: otherSum, wantErr: "SHA-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "snapshot.db")
			err := receiveSnapshot(bytes.NewReader(tc.stream), file, tc.size, tc.sha)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := os.ReadFile(file); !bytes.Equal(got, snap) {
					t.Fatalf("received %d bytes, not the snapshot", len(got))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				t.Fatalf("a failed receive left %v behind", entries)
			}
		})
	}
}

// The waiting side returns once the snapshot is there, having removed the data directory
// an earlier attempt left; it gives up at its timeout.
func TestReceiveWaitsThenWipes(t *testing.T) {
	dir := t.TempDir()
	file, data := filepath.Join(dir, "snapshot.db"), filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(data, "member"), 0o700); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- runReceive(context.Background(), receiveOptions{file: file, wipe: data, timeout: time.Minute}, nil, io.Discard)
	}()
	select {
	case err := <-done:
		t.Fatalf("returned before the snapshot arrived: %v", err)
	case <-time.After(700 * time.Millisecond):
	}
	if _, err := os.Stat(data); err != nil {
		t.Fatalf("the data directory went before the snapshot came: %v", err)
	}
	snap, sum := snapshotOf([]byte("db"))
	if err := runReceive(context.Background(), receiveOptions{file: file, write: true, size: int64(len(snap)), sha256: sum}, bytes.NewReader(snap), io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("the data directory is still there: %v", err)
	}

	err := runReceive(context.Background(), receiveOptions{file: filepath.Join(dir, "never"), timeout: 10 * time.Millisecond}, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no snapshot arrived") {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestParseReceive(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{args: []string{"--file", "/s"}},
		{args: []string{"--file", "/s", "--write", "--size", "100", "--sha256", strings.Repeat("ab", 32)}},
		{args: []string{}, wantErr: "--file is required"},
		{args: []string{"--file", "/s", "--write", "--size", "100"}, wantErr: "--sha256"},
		{args: []string{"--file", "/s", "extra"}, wantErr: "unexpected arguments"},
	} {
		_, err := parseReceive(tc.args, io.Discard)
		if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("parseReceive(%q) = %v, want %q", tc.args, err, tc.wantErr)
		}
	}
}
