package backup

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
)

// trailerSize is etcd's SHA-256 of the snapshot, appended after the database.
const trailerSize = sha256.Size

// ErrSnapshotHash is a snapshot whose trailer does not match its content.
var ErrSnapshotHash = errors.New("etcd snapshot does not match its SHA-256 trailer")

// verifier passes a snapshot through whole, trailer included (etcdutl checks it again when
// it restores), holding back the last 32 bytes until the end: only once they match the
// SHA-256 of everything before them are they passed on, else the stream ends in
// ErrSnapshotHash instead of io.EOF, so nothing downstream commits it.
type verifier struct {
	r    io.Reader
	h    hash.Hash
	tail []byte // the last bytes read, not yet passed on
	n    int64
	err  error
	// Sum is the database's SHA-256 (the trailer), once the stream verified.
	Sum []byte
}

func newVerifier(r io.Reader) *verifier { return &verifier{r: r, h: sha256.New()} }

func (v *verifier) Read(p []byte) (int, error) {
	for {
		// Pass on what is certainly not trailer; the trailer itself once verified.
		if len(v.tail) > trailerSize || (v.Sum != nil && len(v.tail) > 0) {
			end := len(v.tail) - trailerSize
			if v.Sum != nil {
				end = len(v.tail)
			}
			n := copy(p, v.tail[:end])
			if v.Sum == nil {
				v.h.Write(v.tail[:n])
			}
			v.tail = v.tail[n:]
			v.n += int64(n)
			return n, nil
		}
		if v.err != nil {
			if v.Sum != nil {
				return 0, io.EOF
			}
			if !errors.Is(v.err, io.EOF) {
				return 0, v.err
			}
			if len(v.tail) != trailerSize || !bytes.Equal(v.h.Sum(nil), v.tail) {
				return 0, ErrSnapshotHash
			}
			v.Sum = v.h.Sum(nil)
			continue
		}
		buf := make([]byte, max(len(p), 32<<10))
		n, err := v.r.Read(buf)
		v.tail = append(v.tail, buf[:n]...)
		v.err = err
	}
}
