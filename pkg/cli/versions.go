package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubeseed/kubeseed/pkg/versions"
)

func newVersionsCommand(g *global) *cobra.Command {
	return &cobra.Command{
		Use:   "versions",
		Short: "Print the Kubernetes versions a TenantCluster may run",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(g.streams.Out, "supported: %s\ndefault:   %s\n", strings.Join(versions.Supported, " "), versions.Default)
			return err
		},
	}
}
