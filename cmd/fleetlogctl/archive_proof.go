package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/fleetlog/fleetlog/internal/archive"
)

func newArchiveCheckpointCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "checkpoint --dir D",
		Short: "Print the archive's newest signed checkpoint, to keep outside the gateway",
		Long: `Prints the newest checkpoint the archive signed: a C2SP signed note over
the Merkle tree of its records (origin, tree size, root hash, signing epoch
and the next epoch's key). Keep it away from the gateway (a ticket, a second
site, a SIEM); later 'archive verify --checkpoint FILE' shows whether the
archive still extends it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cp, err := archive.LatestCheckpoint(dir)
			if err != nil {
				return err
			}
			if cp == nil {
				return fmt.Errorf("archive %s has no checkpoint", dir)
			}
			_, err = cmd.OutOrStdout().Write(cp.Note)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "archive directory (required)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func newArchiveProveCmd() *cobra.Command {
	var (
		dir, checkpoint string
		leaf            int64
		f               archive.Filter
	)
	cmd := &cobra.Command{
		Use:   "prove --dir D (--leaf N | --contains TEXT [--device ID]) [--checkpoint FILE]",
		Short: "Print an inclusion proof of a record that anyone can check offline",
		Long: `Prints, as JSON, a proof that one record is in the archive's Merkle tree as
a checkpoint signed it: the record (OTLP protobuf), its position, the RFC 6962
inclusion proof, the checkpoint and the key chain from the archive's first key
to the checkpoint's epoch. 'archive check-proof' checks it with nothing but
the first public key (archive-pub.pem).

The record is leaf --leaf N, or the first one whose body contains --contains
(and, with --device, from that device). The checkpoint is --checkpoint FILE,
or the archive's newest.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sel := archive.RecordSelector{}
			switch {
			case leaf >= 0 && (f.Contains != "" || f.Device != ""):
				return errors.New("--leaf: give either --leaf or --contains/--device")
			case leaf >= 0:
				sel.Leaf = uint64(leaf)
			case f.Contains != "" || f.Device != "":
				sel.Filter = &f
			default:
				return errors.New("give --leaf or --contains/--device to choose the record")
			}
			var cp *archive.Checkpoint
			if checkpoint != "" {
				var err error
				if cp, err = archive.ReadCheckpointFile(checkpoint); err != nil {
					return fmt.Errorf("--checkpoint: %w", err)
				}
			}
			p, err := archive.Prove(dir, sel, cp)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(p)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "archive directory (required)")
	fl.StringVar(&checkpoint, "checkpoint", "", "prove against this checkpoint (default: the archive's newest)")
	fl.Int64Var(&leaf, "leaf", -1, "the record's position in the tree, from 0")
	fl.StringVar(&f.Contains, "contains", "", "prove the first record whose body contains this")
	fl.StringVar(&f.Device, "device", "", "... from this device ("+archive.DeviceAttribute+")")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func newArchiveCheckProofCmd() *cobra.Command {
	var (
		proofFile string
		pubkeys   []string
	)
	cmd := &cobra.Command{
		Use:   "check-proof --proof FILE --pubkey P",
		Short: "Check an inclusion proof offline, with the archive's first public key",
		Long: `Checks a proof from 'archive prove' without the archive: the key chain from
--pubkey (the archive's first key, archive-pub.pem) to the checkpoint's
epoch, the checkpoint's signature, and that the record is the proof's leaf
of the checkpoint's tree. Exits 0 and prints the record as a JSON line, or 1
saying what does not hold.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := loadPubkeys(pubkeys)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(proofFile)
			if err != nil {
				return fmt.Errorf("--proof: %w", err)
			}
			var p archive.InclusionProof
			if err := json.Unmarshal(data, &p); err != nil {
				return fmt.Errorf("--proof: %s: %w", proofFile, err)
			}
			res, err := archive.CheckProof(&p, keys)
			if err != nil {
				return fmt.Errorf("the proof does NOT hold: %w", err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "record %d is in the tree of %d records of %s, checkpoint signed %s in epoch %d\n",
				p.LeafIndex, res.Checkpoint.Size, res.Checkpoint.Origin, res.Checkpoint.Time.Format(archive.TimeFormat), res.Checkpoint.Epoch)
			rl := res.Logs.ResourceLogs().At(0)
			sl := rl.ScopeLogs().At(0)
			lr := sl.LogRecords().At(0)
			rec := archive.Record{
				Segment: p.Segment, Time: lr.Timestamp().AsTime().UTC(), ObservedTime: lr.ObservedTimestamp().AsTime().UTC(),
				Severity: lr.SeverityNumber(), SeverityText: lr.SeverityText(), Body: lr.Body(),
				Attributes: lr.Attributes(), Resource: rl.Resource().Attributes(), Scope: sl.Scope(),
			}
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			return enc.Encode(&rec)
		},
	}
	cmd.Flags().StringVar(&proofFile, "proof", "", "proof file from 'archive prove' (required)")
	cmd.Flags().StringArrayVar(&pubkeys, "pubkey", nil, "the archive's first Ed25519 public key, PEM (required, repeatable)")
	_ = cmd.MarkFlagRequired("proof")
	_ = cmd.MarkFlagRequired("pubkey")
	return cmd
}
