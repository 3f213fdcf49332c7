// Command fleetlogctl is the fleetlog operator CLI: fleet certificates today,
// redaction, leak scans and archive verification as those components land.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "fleetlogctl:", err)
		os.Exit(exitCode(err))
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "fleetlogctl",
		Short:         "Operate a fleetlog deployment",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newCertsCmd())
	root.AddCommand(newRedactCmd(), newLeakscanCmd())
	root.AddCommand(newArchiveCmd())
	root.AddCommand(newAlertsCmd())
	root.AddCommand(newFleetCmd())
	return root
}
