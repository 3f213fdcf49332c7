package main

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetlog/fleetlog/internal/archive"
	"github.com/fleetlog/fleetlog/internal/pki"
)

func newArchiveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "archive",
		Short: "Verify and search the gateway's tamper-evident archive",
	}
	cmd.AddCommand(newArchiveVerifyCmd(), newArchiveQueryCmd(),
		newArchiveCheckpointCmd(), newArchiveProveCmd(), newArchiveCheckProofCmd())
	return cmd
}

func newArchiveVerifyCmd() *cobra.Command {
	var (
		dir         string
		pubkeys     []string
		checkpoints []string
	)
	cmd := &cobra.Command{
		Use:   "verify --dir D --pubkey P [--pubkey P2 ...] [--checkpoint FILE ...]",
		Short: "Check every frame hash, manifest signature and the chains across segments",
		Long: `Checks the archive in D: every frame's chain hash, every manifest and
tombstone signature (against any --pubkey, so segments signed before a key
rotation still verify), and that the frame and manifest chains run unbroken
across segments and retention tombstones. It recomputes the Merkle tree over
the records and checks it against every manifest and every checkpoint the
archive keeps, and checks each signature against its epoch's key, chained
from the first key (--pubkey).

Each --checkpoint is a file of checkpoints saved outside the archive (from
'archive checkpoint', the exporter's checkpoint_copy_file, a device, a SIEM),
one or several one after the other: the archive must still hold the records it
covers, with the same root. This catches an archive truncated or rolled back
to an earlier state, or rewritten with the current key.

Exits 0 with a summary, or 1 naming the first broken segment and frame and
what is wrong: modified, missing, reordered, truncated, bad signature, rolled
back or inconsistent with a checkpoint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := loadPubkeys(pubkeys)
			if err != nil {
				return err
			}
			var saved []*archive.Checkpoint
			for _, f := range checkpoints {
				cps, err := archive.ReadCheckpointsFile(f)
				if err != nil {
					return fmt.Errorf("--checkpoint: %w", err)
				}
				saved = append(saved, cps...)
			}
			progress := terminalProgress(cmd.ErrOrStderr())
			sum, err := archive.VerifyArchive(dir, archive.VerifyOptions{Keys: keys, Checkpoints: saved, Progress: progress})
			if progress != nil {
				fmt.Fprint(cmd.ErrOrStderr(), "\r\033[K")
			}
			var ve *archive.VerifyError
			if errors.As(err, &ve) {
				return fmt.Errorf("archive %s is NOT intact: %w", dir, err)
			}
			if err != nil {
				return err
			}
			printSummary(cmd.OutOrStdout(), dir, sum)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "archive directory (required)")
	cmd.Flags().StringArrayVar(&pubkeys, "pubkey", nil, "trusted Ed25519 public key, PEM (required, repeatable)")
	cmd.Flags().StringArrayVar(&checkpoints, "checkpoint", nil, "file of checkpoints saved outside the archive: signed notes, or the syslog output's checkpoint events as a SIEM exports them (repeatable)")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("pubkey")
	return cmd
}

func printSummary(w io.Writer, dir string, sum *archive.Summary) {
	if sum.Sealed+sum.Tombstones == 0 && sum.Open == "" {
		fmt.Fprintf(w, "archive %s holds no segments (is it the archive directory, with YYYY/MM/DD/ below it?)\n", dir)
		return
	}
	fmt.Fprintf(w, "archive %s is intact\n", dir)
	fmt.Fprintf(w, "  segments    %d sealed, %d deleted by retention (signed tombstones)\n", sum.Sealed, sum.Tombstones)
	if sum.Open != "" {
		note := "its frames chain; it is signed when sealed, once full or old enough"
		if sum.OpenTorn > 0 {
			note += fmt.Sprintf("; %d bytes of an unfinished write at its end", sum.OpenTorn)
		}
		fmt.Fprintf(w, "  open        %s (%s)\n", sum.Open, note)
	}
	fmt.Fprintf(w, "  records     %d (%d frames)\n", sum.Records, sum.Frames)
	if !sum.First.IsZero() {
		fmt.Fprintf(w, "  time range  %s to %s\n", sum.First.Format(archive.TimeFormat), sum.Last.Format(archive.TimeFormat))
	}
	if sum.TreeRoot != nil {
		fmt.Fprintf(w, "  tree        %d records, root %x, signing epoch %d\n", sum.TreeSize, sum.TreeRoot, sum.Epoch)
		note := ""
		if sum.CheckpointsUnchecked > 0 {
			note = fmt.Sprintf(" (%d more cover only records retention deleted)", sum.CheckpointsUnchecked)
		}
		fmt.Fprintf(w, "  checkpoints %d of the archive's and %d saved elsewhere match%s\n", sum.Checkpoints, sum.External, note)
	}
}

// terminalProgress reports progress on w when w is a terminal, nil otherwise.
func terminalProgress(w io.Writer) archive.Progress {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return func(done, total int) {
		fmt.Fprintf(w, "\rverifying segment %d of %d", done, total)
	}
}

func newArchiveQueryCmd() *cobra.Command {
	var (
		dir, since, until, severity, output string
		attrs                               []string
		f                                   archive.Filter
		count                               bool
	)
	cmd := &cobra.Command{
		Use:   "query --dir D [filters]",
		Short: "Search the archive; JSON lines or text",
		Long: `Prints the archived records that match every filter, in segment order and
sorted by time within each segment, or with --count only how many match.

Segments whose signed manifest shows that none of their records can match are
skipped unread: outside --since/--until, or, from the manifest's index,
without the --device, --fleet, --attr value or a record at --severity or
above. The rest are read in parallel (GOMAXPROCS segments at once); segments
sealed before the archive kept an index, and the open segment, are read in
full. When stderr is a terminal, a progress bar is drawn there (for records
only when stdout is redirected, so it never tears the output).

Times are RFC 3339 (2026-11-24T09:00:00Z), a date (2026-11-24, UTC) or a
duration before now (90m, 36h, 7d).

Each JSON line has time, observed_time, severity, severity_number, body,
attributes, resource, scope and segment. query does not check signatures:
run 'archive verify' for that.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			now := time.Now()
			if f.Since, err = parseQueryTime(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if f.Until, err = parseQueryTime(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			if severity != "" {
				if f.MinSeverity, err = archive.ParseSeverity(severity); err != nil {
					return fmt.Errorf("--severity: %w", err)
				}
			}
			for _, a := range attrs {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return fmt.Errorf("--attr %q: want key=value", a)
				}
				if f.Attrs == nil {
					f.Attrs = map[string]string{}
				}
				f.Attrs[k] = v
			}
			if output != "json" && output != "text" {
				return fmt.Errorf("--output %q: use json or text", output)
			}
			progress, clearProgress := queryProgressBar(cmd.ErrOrStderr(), cmd.OutOrStdout(), count)
			w := bufio.NewWriter(cmd.OutOrStdout())
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			opts := archive.QueryOptions{CountOnly: count, Progress: progress}
			st, err := archive.QueryWithOptions(dir, f, opts, func(r *archive.Record) error {
				if output == "text" {
					_, err := fmt.Fprintln(w, r.Text())
					return err
				}
				return enc.Encode(r)
			})
			clearProgress()
			if count && err == nil {
				_, err = fmt.Fprintln(w, st.Matched)
			}
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "archive directory (required)")
	fl.StringVar(&since, "since", "", "records at or after this time")
	fl.StringVar(&until, "until", "", "records before this time")
	fl.StringVar(&f.Device, "device", "", "resource attribute "+archive.DeviceAttribute)
	fl.StringVar(&f.Fleet, "fleet", "", "resource attribute "+archive.FleetAttribute)
	fl.StringVar(&severity, "severity", "", "minimum severity: trace, debug, info, warn, error, fatal or 1-24")
	fl.StringVar(&f.Contains, "contains", "", "substring of the body")
	fl.StringArrayVar(&attrs, "attr", nil, "key=value of a record or resource attribute (repeatable)")
	fl.StringVarP(&output, "output", "o", "json", "json or text")
	fl.BoolVar(&count, "count", false, "print only the number of matching records")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

// parseQueryTime reads RFC 3339, a UTC date, or a duration before now
// (with "d" for days). Empty means no bound.
func parseQueryTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && n >= 0 && fmt.Sprint(n) == days {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not RFC 3339, a date (2026-11-24) or a duration (36h, 7d)", s)
}

// loadPubkeys reads the --pubkey files: the archive's first public key and
// any earlier ones.
func loadPubkeys(files []string) ([]ed25519.PublicKey, error) {
	keys := make([]ed25519.PublicKey, 0, len(files))
	for _, f := range files {
		k, err := pki.LoadEd25519PublicKey(f)
		if err != nil {
			return nil, fmt.Errorf("--pubkey: %w", err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
