// Package podexec runs a command in a container of a seed pod through the API's exec
// subresource, with a stream on its standard input: how the manager hands a restore's
// snapshot to the pod that restores it (controllers/tenantcluster/restore.go).
package podexec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
)

// Executor runs commands in seed pods.
type Executor struct {
	config *rest.Config
	client kubernetes.Interface
}

// New is an Executor acting with config (the manager's).
func New(config *rest.Config) (*Executor, error) {
	cs, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	return &Executor{config: config, client: cs}, nil
}

// Exec runs command in container of namespace/pod with stdin and returns once it exits; an
// exit other than 0 is an error carrying the end of what it wrote to its standard error.
// WebSockets first (they close stdin cleanly), SPDY where the API server offers only that.
func (e *Executor) Exec(ctx context.Context, namespace, pod, container string, command []string, stdin io.Reader) error {
	req := e.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdin: stdin != nil, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(e.config, http.MethodGet, req.URL().String())
	if err != nil {
		return fmt.Errorf("exec in %s/%s: %w", namespace, pod, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(e.config, http.MethodPost, req.URL())
	if err != nil {
		return fmt.Errorf("exec in %s/%s: %w", namespace, pod, err)
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return fmt.Errorf("exec in %s/%s: %w", namespace, pod, err)
	}
	var stderr tail
	if err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: io.Discard, Stderr: &stderr}); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("%s in %s/%s: %w: %s", command[0], namespace, pod, err, msg)
		}
		return fmt.Errorf("%s in %s/%s: %w", command[0], namespace, pod, err)
	}
	return nil
}

// tail keeps the last 2 KiB written to it: a command's last words.
type tail struct{ buf bytes.Buffer }

func (t *tail) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if over := t.buf.Len() - 2048; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tail) String() string { return t.buf.String() }
