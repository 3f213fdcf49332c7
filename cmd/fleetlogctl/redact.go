package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fleetlog/fleetlog/internal/pii"
)

func newRedactCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "redact",
		Short: "Redact secrets and personal data from the lines on stdin",
		Long: `Reads lines on stdin and writes them to stdout, one output line per input line
and in order, with every secret and personal datum the pii processor would find
replaced as its configuration says (drop actions mask in place).

--config takes the pii processor's configuration: its own YAML, or a collector
configuration whose processors::pii section is used.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			engine, err := loadPIIEngine(cmd.Context(), configPath)
			if err != nil {
				return usageError{err}
			}
			return redactLines(engine, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "pii processor configuration (default: built-in detectors, mask)")
	return cmd
}

// redactLines streams r to w line by line. Lines of any length pass; output
// is flushed whenever no more input is buffered, so a pipe from tail -f
// flows.
func redactLines(engine *pii.Engine, r io.Reader, w io.Writer) error {
	in := bufio.NewReaderSize(r, 64*1024)
	out := bufio.NewWriterSize(w, 64*1024)
	// The engine's line redactor carries a private key block's state from
	// its BEGIN line to the lines of key material that follow.
	lines := engine.NewLineRedactor(engine.NewTally())
	for {
		line, err := in.ReadString('\n')
		if len(line) > 0 {
			body, eol := line, ""
			if n := len(line); line[n-1] == '\n' {
				body, eol = line[:n-1], "\n"
				if n > 1 && line[n-2] == '\r' {
					body, eol = line[:n-2], "\r\n"
				}
			}
			redacted, _, _ := lines.Redact(body)
			out.WriteString(redacted)
			if _, werr := out.WriteString(eol); werr != nil {
				return fmt.Errorf("write: %w", werr)
			}
			if in.Buffered() == 0 {
				if werr := out.Flush(); werr != nil {
					return fmt.Errorf("write: %w", werr)
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return out.Flush()
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
	}
}
