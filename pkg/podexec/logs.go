package podexec

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// lastWordsLines and lastWordsBytes bound what LastWords reads: enough for a Go panic's
// message above its goroutine's trace, never a container's whole log.
const (
	lastWordsLines = 300
	lastWordsBytes = 64 << 10
)

// LastWords reads the end of a container's log: of its previous run when previous (one
// that restarts), else of its current or last one.
func (e *Executor) LastWords(ctx context.Context, namespace, pod, container string, previous bool) (string, error) {
	raw, err := e.client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, Previous: previous,
		TailLines: ptr.To[int64](lastWordsLines), LimitBytes: ptr.To[int64](lastWordsBytes),
	}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("read the log of %s/%s container %s: %w", namespace, pod, container, err)
	}
	return string(raw), nil
}
