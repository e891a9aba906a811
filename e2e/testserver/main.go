// Command testserver is the workload of the e2e tests: an HTTP server that says which pod
// answered and keeps a value on disk, so a test can see a Service route and a volume persist.
//
//	GET  /        -> the pod's hostname
//	PUT  /data    -> store the body in $DATA_DIR/value
//	GET  /data    -> the stored body
//	GET  /resolve?name=N -> the addresses N resolves to through the pod's DNS, one per line
//
// With TLS_DIR set (tls.crt, tls.key) it also serves HTTPS on :8443 as a validating
// admission webhook at /validate that denies every object it is asked about, naming the
// pod, so a test sees that the apiserver reached it.
//
// `testserver hostname` prints the hostname and exits: a command for `kubectl exec` in an
// image that has no shell.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
