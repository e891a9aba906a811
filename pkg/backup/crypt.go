package backup

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The encrypted format: magic, a 7-byte random nonce prefix, then chunks, each a flag byte
// (1 on the last), the sealed length (4 bytes, big endian) and AES-256-GCM ciphertext of
// at most chunkSize plaintext bytes. A chunk's nonce is prefix || counter || flag, so
// chunks cannot be reordered, dropped or the stream cut short unnoticed (the STREAM
// construction of Hoang, Reyhanitabar, Rogaway and Vizár). The additional data is the flag
// and the caller's context (ObjectAAD), so an object does not open as another tenant's,
// backup's or object's.
const (
	magic     = "KSB1"
	chunkSize = 64 << 10
	// KeySize is the length of a backup key: AES-256.
	KeySize = 32
)

// ErrCorrupt is an encrypted stream that does not decrypt: wrong key, or damaged.
var ErrCorrupt = errors.New("backup does not decrypt: wrong key or damaged data")

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("backup key must be %d bytes, not %d", KeySize, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func nonce(prefix []byte, counter uint32, last bool) []byte {
	n := make([]byte, 12)
	copy(n, prefix)
	binary.BigEndian.PutUint32(n[7:11], counter)
	if last {
		n[11] = 1
	}
	return n
}

// encryptWriter seals what is written to it; Close seals the last chunk.
type encryptWriter struct {
	w       io.Writer
	aad     []byte
	aead    cipher.AEAD
	prefix  []byte
	counter uint32
	buf     []byte
	closed  bool
}

// NewEncryptWriter encrypts what is written with key into w, bound to aad. Close must be
// called to finish the stream; it does not close w.
func NewEncryptWriter(w io.Writer, key, aad []byte) (io.WriteCloser, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	prefix := make([]byte, 7)
	if _, err := rand.Read(prefix); err != nil {
		return nil, err
	}
	if _, err := w.Write(append([]byte(magic), prefix...)); err != nil {
		return nil, err
	}
	return &encryptWriter{w: w, aad: aad, aead: aead, prefix: prefix, buf: make([]byte, 0, chunkSize)}, nil
}

func (e *encryptWriter) Write(p []byte) (int, error) {
	if e.closed {
		return 0, errors.New("write after close")
	}
	n := 0
	for len(p) > 0 {
		k := min(chunkSize-len(e.buf), len(p))
		e.buf = append(e.buf, p[:k]...)
		p, n = p[k:], n+k
		// A full chunk is sealed only when more follows: the last one carries the flag.
		if len(e.buf) == chunkSize && len(p) > 0 {
			if err := e.seal(false); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (e *encryptWriter) seal(last bool) error {
	if e.counter == ^uint32(0) {
		return errors.New("backup too large for one stream")
	}
	var hdr [5]byte
	if last {
		hdr[0] = 1
	}
	sealed := e.aead.Seal(nil, nonce(e.prefix, e.counter, last), e.buf, append(hdr[:1:1], e.aad...))
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(sealed)))
	e.counter++
	e.buf = e.buf[:0]
	if _, err := e.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := e.w.Write(sealed)
	return err
}

func (e *encryptWriter) Close() error {
	if e.closed {
		return nil
	}
	// A full buffer waits here so it can be the last chunk.
	e.closed = true
	return e.seal(true)
}

// decryptReader opens what encryptWriter sealed, chunk by chunk.
type decryptReader struct {
	r       *bufio.Reader
	aad     []byte
	aead    cipher.AEAD
	prefix  []byte
	counter uint32
	plain   []byte
	done    bool
}

// NewDecryptReader decrypts r with key. Read fails with ErrCorrupt on anything that was not
// sealed by the same key for the same aad, in order and whole.
func NewDecryptReader(r io.Reader, key, aad []byte) (io.Reader, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(r)
	hdr := make([]byte, len(magic)+7)
	if _, err := io.ReadFull(br, hdr); err != nil || string(hdr[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: no backup header", ErrCorrupt)
	}
	return &decryptReader{r: br, aad: aad, aead: aead, prefix: hdr[len(magic):]}, nil
}

func (d *decryptReader) Read(p []byte) (int, error) {
	for len(d.plain) == 0 {
		if d.done {
			// Anything after the last chunk was not sealed with it.
			if _, err := d.r.ReadByte(); !errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("%w: data after the last chunk", ErrCorrupt)
			}
			return 0, io.EOF
		}
		var hdr [5]byte
		if _, err := io.ReadFull(d.r, hdr[:]); err != nil {
			return 0, fmt.Errorf("%w: cut short", ErrCorrupt)
		}
		last := hdr[0] == 1
		n := binary.BigEndian.Uint32(hdr[1:])
		if hdr[0] > 1 || n > chunkSize+uint32(d.aead.Overhead()) {
			return 0, fmt.Errorf("%w: bad chunk header", ErrCorrupt)
		}
		sealed := make([]byte, n)
		if _, err := io.ReadFull(d.r, sealed); err != nil {
			return 0, fmt.Errorf("%w: cut short", ErrCorrupt)
		}
		plain, err := d.aead.Open(sealed[:0], nonce(d.prefix, d.counter, last), sealed, append(hdr[:1:1], d.aad...))
		if err != nil {
			return 0, ErrCorrupt
		}
		d.counter++
		d.plain, d.done = plain, last
	}
	n := copy(p, d.plain)
	d.plain = d.plain[n:]
	return n, nil
}

// ObjectAAD binds an encrypted object to its tenant, backup and name.
func ObjectAAD(tenantUID, backup, object string) []byte {
	return []byte("kubeseed-backup/v1\x00" + tenantUID + "\x00" + backup + "\x00" + object)
}
