package controlplane

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"maps"
	"slices"
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

// pkiChecksum digests the checksums of the Secrets a component mounts, and only those: a
// renewed etcd peer certificate rolls etcd, not the scheduler.
func pkiChecksum(mounts []SecretMount, checksums map[string]string) string {
	h := sha256.New()
	names := make([]string, 0, len(mounts))
	for _, m := range mounts {
		names = append(names, m.SecretName)
	}
	slices.Sort(names)
	for _, name := range names {
		writeField(h, []byte(name))
		writeField(h, []byte(checksums[name]))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeField writes b with its length in front; a hash.Hash never fails to write.
func writeField(w io.Writer, b []byte) {
	_, _ = w.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(b))))
	_, _ = w.Write(b)
}
