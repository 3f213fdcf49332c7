package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fleetlog/fleetlog/internal/pii"
)

// errLeaks is returned (exit status 1) when leakscan found anything.
var errLeaks = errors.New("secrets or personal data found")

func newLeakscanCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "leakscan [--config FILE] PATH...",
		Short: "Scan files and directories for secrets and personal data",
		Long: `Scans files, and directories recursively, with the pii processor's detectors and
prints path:line:detector for each finding. The secret itself is never printed.

Exit status: 0 when nothing was found, 1 when something was, 2 on a usage, config
or I/O error. Binary files (a NUL byte in the first 8 KiB) are skipped. Progress
goes to stderr when stderr is a terminal.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("leakscan needs at least one PATH")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			engine, err := loadPIIEngine(cmd.Context(), configPath)
			if err != nil {
				return usageError{err}
			}
			s := &leakScanner{engine: engine, out: bufio.NewWriter(cmd.OutOrStdout()), errOut: cmd.ErrOrStderr()}
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				s.progress = f
			}
			return s.run(args)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "pii processor configuration (default: built-in detectors)")
	return cmd
}

type leakScanner struct {
	engine   *pii.Engine
	out      *bufio.Writer
	errOut   io.Writer
	progress io.Writer // nil: no progress
	findings []pii.Finding

	files, skipped, found, errs int
	bytes                       int64
	lastProgress                time.Time
}

func (s *leakScanner) run(paths []string) error {
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				s.ioError(err)
				return nil
			}
			if d.Type().IsRegular() {
				s.scanFile(path)
			}
			return nil
		})
		if err != nil {
			s.ioError(err)
		}
	}
	if s.progress != nil {
		fmt.Fprintf(s.progress, "\r\033[Kscanned %d files (%d binary skipped), %d findings\n", s.files, s.skipped, s.found)
	}
	if err := s.out.Flush(); err != nil {
		return usageError{err}
	}
	switch {
	case s.errs > 0:
		return usageError{fmt.Errorf("%d paths could not be read", s.errs)}
	case s.found > 0:
		return fmt.Errorf("%w: %d findings in %d files", errLeaks, s.found, s.files)
	}
	return nil
}

// ioError reports an unreadable path on stderr (the error names the path,
// never content) and goes on with the rest.
func (s *leakScanner) ioError(err error) {
	s.errs++
	fmt.Fprintln(s.errOut, "fleetlogctl leakscan:", err)
}

func (s *leakScanner) scanFile(path string) {
	f, err := os.Open(path)
	if err != nil {
		s.ioError(err)
		return
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64*1024)
	if head, _ := r.Peek(8 * 1024); bytes.IndexByte(head, 0) >= 0 {
		s.skipped++
		return
	}
	s.files++
	for n := 1; ; n++ {
		line, err := r.ReadString('\n')
		s.bytes += int64(len(line))
		s.findings = s.engine.Scan(line, s.findings[:0])
		for _, finding := range s.findings {
			s.found++
			fmt.Fprintf(s.out, "%s:%d:%s\n", path, n, s.engine.Name(finding))
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.ioError(fmt.Errorf("read %s: %w", path, err))
			}
			break
		}
	}
	s.showProgress()
}

func (s *leakScanner) showProgress() {
	if s.progress == nil || time.Since(s.lastProgress) < 200*time.Millisecond {
		return
	}
	s.lastProgress = time.Now()
	fmt.Fprintf(s.progress, "\r\033[Kscanned %d files, %.1f MiB, %d findings", s.files, float64(s.bytes)/(1<<20), s.found)
}
