// Command volume-helper is local-path-provisioner's helper on the local seed: it creates or
// removes a volume's directory ($VOL_DIR). Upstream runs shell scripts in a busybox image;
// with no registry here, this static binary does the same, chosen by the name it is run as
// (setup or teardown).
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	dir := os.Getenv("VOL_DIR")
	if dir == "" || !filepath.IsAbs(dir) {
		fmt.Fprintf(os.Stderr, "volume-helper: VOL_DIR must be an absolute path, got %q\n", dir)
		os.Exit(2)
	}
	var err error
	switch filepath.Base(os.Args[0]) {
	case "setup":
		if err = os.MkdirAll(dir, 0o777); err == nil {
			err = os.Chmod(dir, 0o777) // MkdirAll is subject to the umask
		}
	case "teardown":
		err = os.RemoveAll(dir)
	default:
		err = fmt.Errorf("run as setup or teardown, not %s", os.Args[0])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "volume-helper: %v\n", err)
		os.Exit(1)
	}
}
