package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetlog/fleetlog/internal/fleetapi"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// Defaults of the fleet commands; FLEETLOG_ADMIN_URL and
// FLEETLOG_OPERATOR_DIR override them.
const defaultAdminURL = "https://localhost:4320"

// fleetFlags are the flags every fleet command shares.
type fleetFlags struct {
	gateway, certDir, output string
}

func defaultOperatorDir() string {
	if d := os.Getenv("FLEETLOG_OPERATOR_DIR"); d != "" {
		return d
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "fleetlog", "operator")
	}
	return "operator"
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (f *fleetFlags) client() (*fleetapi.Client, error) {
	if f.output != "json" && f.output != "text" {
		return nil, usageError{fmt.Errorf("--output %q: use json or text", f.output)}
	}
	c, err := fleetapi.NewClient(f.gateway,
		filepath.Join(f.certDir, pki.CACertFile), filepath.Join(f.certDir, pki.CertFile), filepath.Join(f.certDir, pki.KeyFile))
	if err != nil {
		return nil, usageError{fmt.Errorf("%w (--cert-dir holds ca.pem, cert.pem, key.pem of 'certs issue --operator NAME')", err)}
	}
	return c, nil
}

func newFleetCmd() *cobra.Command {
	f := &fleetFlags{}
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Watch the fleet and change what devices collect, through the gateway's admin API",
		Long: `Talks to the gateway's fleet_control admin API over mutual TLS with an operator
certificate ('fleetlogctl certs issue --operator NAME' writes one to
DIR/operators/NAME; pass that directory as --cert-dir).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.gateway, "gateway", envOr("FLEETLOG_ADMIN_URL", defaultAdminURL), "admin API address (env FLEETLOG_ADMIN_URL)")
	pf.StringVar(&f.certDir, "cert-dir", defaultOperatorDir(), "directory with the operator's ca.pem, cert.pem and key.pem (env FLEETLOG_OPERATOR_DIR)")
	pf.StringVarP(&f.output, "output", "o", "text", "json or text")
	cmd.AddCommand(newFleetListCmd(f), newFleetShowCmd(f), newFleetConfigCmd(f))
	return cmd
}

func newFleetListCmd(f *fleetFlags) *cobra.Command {
	var filter fleetapi.Filter
	cmd := &cobra.Command{
		Use:   "list [--fleet F] [--site S] [--state STATE]",
		Short: "List the devices of the fleet registry with their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			devices, err := c.Devices(cmd.Context(), filter)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if f.output == "json" {
				return writeJSON(w, devices)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DEVICE\tFLEET\tSITE\tSTATE\tLAST SEEN\tVERSION\tSPOOLED\tCONFIG")
			for _, d := range devices {
				spooled := "-"
				if d.Status != nil && d.Status.Spool != nil {
					spooled = fmt.Sprintf("%d", d.Status.Spool.Records)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, dash(d.Fleet), dash(d.Site), d.State,
					ago(d.LastSeen), dash(d.Version), spooled, assignmentText(d.Assignment))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&filter.Fleet, "fleet", "", "only this fleet")
	cmd.Flags().StringVar(&filter.Site, "site", "", "only this site")
	cmd.Flags().StringVar(&filter.State, "state", "", "only this state: "+strings.Join(fleetapi.States, ", "))
	return cmd
}

func newFleetShowCmd(f *fleetFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show DEVICE",
		Short: "Show one device's state and newest report",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			d, err := c.Device(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if f.output == "json" {
				return writeJSON(w, d)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
			row("device", d.ID)
			row("fleet / site", dash(d.Fleet)+" / "+dash(d.Site))
			row("state", d.State)
			for _, r := range d.Reasons {
				row("", r)
			}
			row("first seen", d.FirstSeen.UTC().Format(time.RFC3339))
			row("last seen", d.LastSeen.UTC().Format(time.RFC3339)+" ("+ago(d.LastSeen)+")")
			row("version", dash(d.Version))
			row("clock offset", fmt.Sprintf("%.1fs", d.ClockOffsetSeconds))
			if len(d.Labels) > 0 {
				keys := make([]string, 0, len(d.Labels))
				for k := range d.Labels {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for i, k := range keys {
					keys[i] = k + "=" + d.Labels[k]
				}
				row("labels", strings.Join(keys, " "))
			}
			if s := d.Status; s != nil {
				if sp := s.Spool; sp != nil {
					row("spool", fmt.Sprintf("%d records, %d bytes, oldest %.0fs, evicted %d, dropped %d", sp.Records, sp.Bytes, sp.OldestAgeSeconds, sp.Evicted, sp.Dropped))
				}
				if !s.LastAck.IsZero() {
					row("last ack", s.LastAck.UTC().Format(time.RFC3339))
				}
				for _, fs := range s.Files {
					row("file", fmt.Sprintf("%s lag %d bytes", fs.Path, fs.LagBytes))
				}
			}
			row("remote config", assignmentText(d.Assignment))
			if a := d.Assignment; a != nil && a.Error != "" {
				row("", a.Error)
			}
			return tw.Flush()
		},
	}
}

func newFleetConfigCmd(f *fleetFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Assign signed configuration fragments to devices, with staged rollouts",
	}
	cmd.AddCommand(newFleetConfigSetCmd(f), newFleetConfigListCmd(f), newFleetConfigStatusCmd(f), newFleetConfigDeleteCmd(f))
	return cmd
}

func newFleetConfigSetCmd(f *fleetFlags) *cobra.Command {
	var (
		spec   fleetapi.AssignmentSpec
		labels []string
	)
	cmd := &cobra.Command{
		Use:   "set [--fleet F] [--site S] [--label k=v] [--device D,...] [--canary D,...] [--percent N] [--max-failure-rate R] NAME FRAGMENT.yaml",
		Short: "Create or replace an assignment: a configuration fragment for the selected devices",
		Long: `Sends FRAGMENT.yaml ('-' for stdin) to the gateway, which checks it against its
key policy (a fragment may set file inputs, stricter pii rules, labels and the log
level; never the exporters, TLS, pipelines or extensions) and signs it for each
selected device. With --canary or --percent those devices get it first and the
rest only once each of them applied it; the rollout halts when failed / tried
passes --max-failure-rate. The newest assignment that selects a device wins.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Name = args[0]
			frag, err := readFragment(cmd.InOrStdin(), args[1])
			if err != nil {
				return usageError{err}
			}
			spec.Fragment = frag
			for _, kv := range labels {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--label %q: want key=value", kv)}
				}
				if spec.Selector.Labels == nil {
					spec.Selector.Labels = map[string]string{}
				}
				spec.Selector.Labels[k] = v
			}
			if spec.Selector.Empty() {
				return usageError{fmt.Errorf("select devices with --fleet, --site, --label or --device")}
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			a, err := c.SetAssignment(cmd.Context(), &spec)
			if err != nil {
				return err
			}
			if f.output == "json" {
				return writeJSON(cmd.OutOrStdout(), a)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "assignment %s set (serial %d, stage %s): %d devices selected\n", a.Name, a.Serial, a.Stage, a.Counts.Selected)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&spec.Selector.Fleet, "fleet", "", "select the devices of this fleet")
	fl.StringVar(&spec.Selector.Site, "site", "", "select the devices of this site")
	fl.StringArrayVar(&labels, "label", nil, "select devices with this label, key=value (repeatable)")
	fl.StringSliceVar(&spec.Selector.Devices, "device", nil, "select these devices (comma-separated)")
	fl.StringSliceVar(&spec.Canary, "canary", nil, "devices that get it first (comma-separated)")
	fl.IntVar(&spec.Percent, "percent", 0, "percentage of the selected devices that get it first")
	fl.Float64Var(&spec.MaxFailureRate, "max-failure-rate", 0.1, "halt the rollout when failed / tried passes this (0 to 1)")
	return cmd
}

func readFragment(stdin io.Reader, path string) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("read fragment: %w", err)
	}
	return string(b), nil
}

func newFleetConfigListCmd(f *fleetFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the assignments, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			list, err := c.Assignments(cmd.Context())
			if err != nil {
				return err
			}
			if f.output == "json" {
				return writeJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSERIAL\tSELECTOR\tSTAGE\tSTATE\tSELECTED\tAPPLIED\tFAILED\tPENDING")
			for _, a := range list {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", a.Name, a.Serial, selectorText(a.Selector), a.Stage, a.State,
					a.Counts.Selected, a.Counts.Applied, a.Counts.Failed, a.Counts.Pending)
			}
			return tw.Flush()
		},
	}
}

func newFleetConfigStatusCmd(f *fleetFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status NAME",
		Short: "Show an assignment's rollout and each device's outcome",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			a, err := c.Assignment(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if f.output == "json" {
				return writeJSON(w, a)
			}
			fmt.Fprintf(w, "assignment %s, serial %d, selector %s\n", a.Name, a.Serial, selectorText(a.Selector))
			fmt.Fprintf(w, "stage %s, state %s", a.Stage, a.State)
			if a.HaltReason != "" {
				fmt.Fprintf(w, ": %s", a.HaltReason)
			}
			fmt.Fprintf(w, "\nselected %d, sent %d: applied %d, failed %d, pending %d\n",
				a.Counts.Selected, a.Counts.Targeted, a.Counts.Applied, a.Counts.Failed, a.Counts.Pending)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DEVICE\tSERIAL\tOUTCOME\tERROR")
			for _, d := range a.Devices {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", d.Device, d.Serial, d.Outcome, d.Error)
			}
			return tw.Flush()
		},
	}
}

func newFleetConfigDeleteCmd(f *fleetFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an assignment: its devices go back to their local configuration (or an older assignment)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.DeleteAssignment(cmd.Context(), args[0]); err != nil {
				return err
			}
			if f.output == "json" {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"deleted": args[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "assignment %s deleted\n", args[0])
			return nil
		},
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func assignmentText(a *fleetapi.DeviceAssignment) string {
	if a == nil {
		return "local"
	}
	name := a.Name
	if name == "" {
		name = "local"
	}
	return fmt.Sprintf("%s #%d %s", name, a.Serial, a.Outcome)
}

func selectorText(s fleetapi.Selector) string {
	var parts []string
	if s.Fleet != "" {
		parts = append(parts, "fleet="+s.Fleet)
	}
	if s.Site != "" {
		parts = append(parts, "site="+s.Site)
	}
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+s.Labels[k])
	}
	if len(s.Devices) > 0 {
		parts = append(parts, "devices="+strings.Join(s.Devices, ","))
	}
	return strings.Join(parts, " ")
}
