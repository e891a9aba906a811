// Command testserver is the workload of the e2e tests: an HTTP server that says which pod
// answered and keeps a value on disk, so a test can see a Service route and a volume persist.
//
//	GET  /        -> the pod's hostname
//	PUT  /data    -> store the body in $DATA_DIR/value
//	GET  /data    -> the stored body
package main

import (
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

func main() {
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
	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
