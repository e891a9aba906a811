package backup

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrManifestMAC is a manifest its backup key did not sign: altered, or another key's.
var ErrManifestMAC = errors.New("the manifest is not signed by its backup key: altered, or not this tenant's")

// macKey derives the manifest's HMAC key from the backup key, so the one key never serves
// both AES-GCM and HMAC.
func macKey(key []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("kubeseed-backup/v2 manifest"))
	return h.Sum(nil)
}

// mac is HMAC-SHA256 of the manifest's JSON without its MAC.
func (m Manifest) mac(key []byte) ([]byte, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("backup key must be %d bytes, not %d", KeySize, len(key))
	}
	m.MAC = ""
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	h := hmac.New(sha256.New, macKey(key))
	h.Write(body)
	return h.Sum(nil), nil
}

// Sign sets the manifest's MAC with the backup key.
func (m *Manifest) Sign(key []byte) error {
	sum, err := m.mac(key)
	if err != nil {
		return err
	}
	m.MAC = hex.EncodeToString(sum)
	return nil
}

// Verify says whether the backup key signed the manifest as it reads (ErrManifestMAC if
// not). Only a verified manifest's claims (sizes, versions, tenant) may be acted on.
func (m Manifest) Verify(key []byte) error {
	want, err := m.mac(key)
	if err != nil {
		return err
	}
	got, err := hex.DecodeString(m.MAC)
	if err != nil || !hmac.Equal(got, want) {
		return ErrManifestMAC
	}
	return nil
}

// Signed says whether the manifest's format carries a MAC (format 2 on). A restore acts
// only on a signed manifest it verified.
func (m Manifest) Signed() bool { return m.Format >= FormatVersion }
