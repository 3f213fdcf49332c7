package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetlog/fleetlog/internal/pki"
)

const day = 24 * time.Hour

func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Create the fleet CA and issue gateway and device certificates",
	}
	cmd.AddCommand(newCertsInitCmd(), newCertsIssueCmd())
	return cmd
}

func newCertsInitCmd() *cobra.Command {
	var (
		dir              string
		opts             pki.InitOptions
		caDays, leafDays int
	)
	cmd := &cobra.Command{
		Use:   "init --dir D [--host H ...]",
		Short: "Create a fleet CA, the gateway certificate and the archive signing key",
		Long: `Creates in D:
  ca/ca.pem, ca/ca-key.pem            the fleet CA (ECDSA P-256); keep ca-key.pem offline
  gateway/ca.pem, cert.pem, key.pem   the gateway server certificate, valid for
                                      localhost, 127.0.0.1, ::1 and every --host
  gateway/archive-key.pem             Ed25519 key the gateway signs its archive with
  archive-pub.pem                     Ed25519 public key for 'archive verify'
Private keys are written 0600 in 0700 directories.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.CAValidity = time.Duration(caDays) * day
			opts.LeafValidity = time.Duration(leafDays) * day
			res, err := pki.Init(dir, opts)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, "created fleet CA and gateway material:")
			printFiles(w, res.CACert, res.CAKey, res.GatewayCA, res.GatewayCert, res.GatewayKey, res.ArchiveKey, res.ArchivePub)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "certificate directory (required)")
	cmd.Flags().StringVar(&opts.FleetName, "fleet", "", "fleet name for the CA subject (default \"fleetlog\")")
	cmd.Flags().StringSliceVar(&opts.Hosts, "host", nil, "extra DNS name or IP for the gateway certificate (repeatable)")
	cmd.Flags().IntVar(&caDays, "ca-days", int(pki.DefaultCAValidity/day), "CA validity in days")
	cmd.Flags().IntVar(&leafDays, "days", int(pki.DefaultLeafValidity/day), "gateway certificate validity in days")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "replace an existing CA (orphans every device certificate issued by it)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func newCertsIssueCmd() *cobra.Command {
	var (
		dir  string
		opts pki.DeviceOptions
		days int
	)
	cmd := &cobra.Command{
		Use:   "issue --dir D --device ID [--fleet F] [--site S]",
		Short: "Issue a device client certificate signed by the fleet CA",
		Long: `Creates D/devices/ID/{ca.pem,cert.pem,key.pem}. The certificate names the device
in its Subject CN and URI SAN urn:fleetlog:device:ID; fleet and site become the
URI SANs urn:fleetlog:fleet:F and urn:fleetlog:site:S and the Subject O and OU.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Validity = time.Duration(days) * day
			res, err := pki.IssueDevice(dir, opts)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "issued device certificate for %s:\n", opts.DeviceID)
			printFiles(w, res.CA, res.Cert, res.Key)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "certificate directory made by 'certs init' (required)")
	cmd.Flags().StringVar(&opts.DeviceID, "device", "", "device ID (required)")
	cmd.Flags().StringVar(&opts.Fleet, "fleet", "", "fleet the device belongs to")
	cmd.Flags().StringVar(&opts.Site, "site", "", "site the device is installed at")
	cmd.Flags().IntVar(&days, "days", int(pki.DefaultLeafValidity/day), "certificate validity in days (capped at the CA's)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "replace an existing certificate for this device")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("device")
	return cmd
}

func printFiles(w io.Writer, paths ...string) {
	for _, p := range paths {
		fmt.Fprintln(w, " ", p)
	}
}
