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
  gateway/config-key.pem              Ed25519 key the gateway signs remote configuration with
  archive-pub.pem                     Ed25519 public key for 'archive verify'
  config-pub.pem                      Ed25519 public key devices verify remote configuration
                                      with ('certs issue' copies it into each device directory)
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
			printFiles(w, res.CACert, res.CAKey, res.GatewayCA, res.GatewayCert, res.GatewayKey, res.ArchiveKey, res.ConfigKey, res.ArchivePub, res.ConfigPub)
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
		dir      string
		opts     pki.DeviceOptions
		operator string
		days     int
	)
	cmd := &cobra.Command{
		Use:   "issue --dir D (--device ID [--fleet F] [--site S] | --operator NAME)",
		Short: "Issue a device or operator client certificate signed by the fleet CA",
		Long: `With --device, creates D/devices/ID/{ca.pem,cert.pem,key.pem} and a copy of
D/config-pub.pem. The certificate names the device in its Subject CN and URI SAN
urn:fleetlog:device:ID; fleet and site become the URI SANs urn:fleetlog:fleet:F
and urn:fleetlog:site:S and the Subject O and OU.

With --operator, creates D/operators/NAME/{ca.pem,cert.pem,key.pem}: a
certificate for the gateway's admin API ('fleetlogctl fleet'), named by the URI
SAN urn:fleetlog:operator:NAME. It names no device: the gateway refuses it on
the OTLP and OpAMP endpoints, and refuses device certificates on the admin API.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			validity := time.Duration(days) * day
			switch {
			case operator != "" && opts.DeviceID != "":
				return fmt.Errorf("--device and --operator exclude each other")
			case operator != "":
				if opts.Fleet != "" || opts.Site != "" {
					return fmt.Errorf("--fleet and --site name a device's fleet, not an operator's")
				}
				res, err := pki.IssueOperator(dir, pki.OperatorOptions{Name: operator, Validity: validity, Force: opts.Force})
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "issued operator certificate for %s:\n", operator)
				printFiles(w, res.CA, res.Cert, res.Key)
				return nil
			case opts.DeviceID == "":
				return fmt.Errorf("one of --device or --operator is required")
			}
			opts.Validity = validity
			res, err := pki.IssueDevice(dir, opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "issued device certificate for %s:\n", opts.DeviceID)
			files := []string{res.CA, res.Cert, res.Key}
			if res.ConfigPub != "" {
				files = append(files, res.ConfigPub)
			}
			printFiles(w, files...)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "certificate directory made by 'certs init' (required)")
	cmd.Flags().StringVar(&opts.DeviceID, "device", "", "device ID")
	cmd.Flags().StringVar(&operator, "operator", "", "operator name, for the gateway's admin API")
	cmd.Flags().StringVar(&opts.Fleet, "fleet", "", "fleet the device belongs to")
	cmd.Flags().StringVar(&opts.Site, "site", "", "site the device is installed at")
	cmd.Flags().IntVar(&days, "days", int(pki.DefaultLeafValidity/day), "certificate validity in days (capped at the CA's)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "replace an existing certificate of this device or operator")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func printFiles(w io.Writer, paths ...string) {
	for _, p := range paths {
		fmt.Fprintln(w, " ", p)
	}
}
