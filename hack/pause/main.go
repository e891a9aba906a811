// Command pause is the sandbox container of every pod on the local seed: it sleeps until
// told to stop. Built here because no registry can serve registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
