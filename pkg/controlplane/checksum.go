package controlplane

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"maps"
	"slices"
	"strings"
)

// SecretDataChecksum digests a Secret's data, keys included, independently of map order.
// The controller computes it for each PKI Secret it reads and passes the results in
// Inputs.SecretChecksums.
func SecretDataChecksum(data map[string][]byte) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		// Length prefixes keep ("ab","c") and ("a","bc") apart.
		writeField(h, []byte(k))
		writeField(h, data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SecretCAChecksum digests only the CA a Secret carries (ca.crt): cert-manager's renewal of
// the Secret's certificate leaves it alone, a CA rotation does not.
func SecretCAChecksum(data map[string][]byte) string {
	ca := map[string][]byte{}
	if v, ok := data[CACertKey]; ok {
		ca[CACertKey] = v
	}
	return SecretDataChecksum(ca)
}

// pkiChecksum digests the checksums of the Secrets a component mounts, and only those: a
// new etcd CA rolls etcd, not the scheduler. A mount the component reloads counts only
// with its CA, so a renewed leaf is picked up by the running pods and no request fails
// on a restart.
func pkiChecksum(mounts []SecretMount, in Inputs) string {
	h := sha256.New()
	sorted := slices.SortedFunc(slices.Values(mounts), func(a, b SecretMount) int { return strings.Compare(a.SecretName, b.SecretName) })
	for _, m := range sorted {
		sum := in.SecretChecksums[m.SecretName]
		switch {
		case m.Reloads && slices.Contains(m.Keys, CACertKey):
			sum = "ca:" + in.SecretCAChecksums[m.SecretName]
		case m.Reloads:
			// The pod does not get this Secret's ca.crt: the CA it trusts is counted
			// through the CA's own mount.
			sum = "ca:"
		}
		writeField(h, []byte(m.SecretName))
		writeField(h, []byte(sum))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeField writes b with its length in front; a hash.Hash never fails to write.
func writeField(w io.Writer, b []byte) {
	_, _ = w.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(b))))
	_, _ = w.Write(b)
}
