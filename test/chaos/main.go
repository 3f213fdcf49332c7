// Command chaos is fleetlog's fault suite: it runs the real bin/fleetlog (as
// the gateway) and bin/fleetlog-agent on loopback, with a TCP relay between
// them, injects one fault per scenario (process kills, outages, a NAT that
// forgets idle flows, full disks, a torn spool), and counts from the
// gateway's archive what arrived.
//
//	go run ./test/chaos [-short] [-scenarios agent-kill,link-outage] [-results FILE]
//
// For each scenario it prints the lines written, the distinct lines in the
// archive, the missing ones, the duplicates, and the time from the moment
// the path healed until the archive held every line. It exits 1 when a
// scenario lost a line, stored one twice, took longer than -max-recovery
// to recover, or a tier crashed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	var (
		short       = flag.Bool("short", false, "the short variant: far fewer lines, shorter outages")
		names       = flag.String("scenarios", "", "comma-separated scenarios to run (default: all): "+strings.Join(scenarioNames(), ","))
		root        = flag.String("root", ".", "repository checkout (configs under distributions/)")
		binDir      = flag.String("bin", "", "directory of fleetlog, fleetlog-agent, fleetlogctl (default: ROOT/bin)")
		work        = flag.String("work", "", "working directory (default: a new temporary one, removed after a passing run)")
		results     = flag.String("results", "", "also write the results as a Markdown table to this file")
		maxRecovery = flag.Duration("max-recovery", 60*time.Second, "longest acceptable recovery after the path heals")
	)
	flag.Parse()
	cfg := suiteConfig{Short: *short, Root: *root, BinDir: *binDir, Work: *work, MaxRecovery: *maxRecovery, Log: os.Stdout}
	if *names != "" {
		cfg.Only = strings.Split(*names, ",")
	}
	res, err := runSuite(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	table := formatTable(res)
	fmt.Print("\n" + table)
	if *results != "" {
		err := os.MkdirAll(filepath.Dir(*results), 0o755)
		if err == nil {
			err = os.WriteFile(*results, []byte(resultsDoc(cfg, res, table)), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos: write results:", err)
		}
	}
	if failed := failures(res, cfg.MaxRecovery); len(failed) > 0 {
		fmt.Fprintln(os.Stderr, "chaos: FAILED:", strings.Join(failed, "; "))
		os.Exit(1)
	}
	fmt.Println("chaos: every scenario passed")
}
