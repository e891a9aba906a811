// Command testserver is the workload of the e2e tests: an HTTP server that says which pod
// answered and keeps a value on disk, so a test can see a Service route and a volume persist.
//
//	GET  /        -> the pod's hostname
//	PUT  /data    -> store the body in $DATA_DIR/value
//	GET  /data    -> the stored body
//	GET  /resolve?name=N -> the addresses N resolves to through the pod's DNS, one per line
//
//	GET  /bytes?n=N      -> N bytes (a body larger than any MTU)
//	GET  /fetch?url=U    -> GET U from this pod's network and answer with its body, or 502
//	                        with the error: a test on a node sees what a pod can reach
//
// With TLS_DIR set (tls.crt, tls.key) it also serves HTTPS on :8443 as a validating
// admission webhook at /validate that denies every object it is asked about, naming the
// pod, so a test sees that the apiserver reached it.
//
// `testserver hostname` prints the hostname and exits: a command for `kubectl exec` in an
// image that has no shell.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "hostname" {
		host, err := os.Hostname()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(host)
		return
	}
	dataDir := os.Getenv("DATA_DIR")
	if dataDir == "" {
		dataDir = "/tmp"
	}
	value := filepath.Join(dataDir, "value")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		host, _ := os.Hostname()
		_, _ = io.WriteString(w, host)
	})
	mux.HandleFunc("PUT /data", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			err = os.WriteFile(value, body, 0o600)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /data", func(w http.ResponseWriter, _ *http.Request) {
		body, err := os.ReadFile(value)
		if errors.Is(err, os.ErrNotExist) {
			http.NotFound(w, nil)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /resolve", func(w http.ResponseWriter, r *http.Request) {
		addrs, err := net.DefaultResolver.LookupHost(r.Context(), r.URL.Query().Get("name"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, strings.Join(addrs, "\n"))
	})
	mux.HandleFunc("GET /bytes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 || n > 64<<20 {
			http.Error(w, "n must be a byte count of at most 64 MiB", http.StatusBadRequest)
			return
		}
		_, _ = w.Write(bytes.Repeat([]byte{'x'}, n))
	})
	mux.HandleFunc("GET /fetch", fetch)
	if dir := os.Getenv("TLS_DIR"); dir != "" {
		hooks := http.NewServeMux()
		hooks.HandleFunc("POST /validate", deny)
		tlsSrv := &http.Server{Addr: ":8443", Handler: hooks, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			log.Fatal(tlsSrv.ListenAndServeTLS(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")))
		}()
	}
	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// fetch GETs the url query parameter from this pod and relays the body; a request that
// fails (refused, timed out, not 200) is a 502 naming why. Its 2 s timeout is under the 3 s
// of the tests' own clients, so a test that expects a NetworkPolicy to drop packets sees
// this 502 rather than its own timeout.
func fetch(w http.ResponseWriter, r *http.Request) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(r.URL.Query().Get("url"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		http.Error(w, fmt.Sprintf("status %d, %d bytes read, error %v", resp.StatusCode, len(body), err), http.StatusBadGateway)
		return
	}
	_, _ = w.Write(body)
}

// deny answers an AdmissionReview (admission.k8s.io/v1) with allowed: false.
func deny(w http.ResponseWriter, r *http.Request) {
	var review struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Request    struct {
			UID string `json:"uid"`
		} `json:"request"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	host, _ := os.Hostname()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"response": map[string]any{
			"uid": review.Request.UID, "allowed": false,
			"status": map[string]any{"code": http.StatusForbidden, "message": "denied by the e2e webhook in pod " + host},
		},
	})
}
