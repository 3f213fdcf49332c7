// Command evalcorpus writes the pii evaluation corpus (package
// internal/pii/evalcorpus) as JSON lines, one labelled line each, for reading
// or for other redactors. Its lines carry real Loghub lines, whose licence
// keeps them out of the repository: write it outside the checkout.
//
//	go run ./internal/pii/testdata/evalcorpus -o /tmp/pii-eval.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fleetlog/fleetlog/internal/loghub"
	"github.com/fleetlog/fleetlog/internal/pii/evalcorpus"
)

func main() {
	out := flag.String("o", filepath.Join(os.TempDir(), "fleetlog-pii-eval.jsonl"), "output file")
	flag.Parse()
	dir, err := loghub.Dir()
	if err != nil {
		log.Fatal(err)
	}
	c, err := evalcorpus.Build(dir)
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	write := func(set string, entries []evalcorpus.Entry) {
		for _, e := range entries {
			if err := enc.Encode(struct {
				Set string `json:"set"`
				evalcorpus.Entry
			}{set, e}); err != nil {
				log.Fatal(err)
			}
		}
	}
	write("secret", c.Secrets)
	write("look_alike", c.LookAlikes)
	write("declared_fp", c.DeclaredFP)
	for _, l := range c.Clean {
		write("clean", []evalcorpus.Entry{{Kind: "clean", Context: "loghub", Source: "loghub", Line: l}})
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d secret lines, %d look-alike lines, %d declared false positives, %d clean lines\n",
		*out, len(c.Secrets), len(c.LookAlikes), len(c.DeclaredFP), len(c.Clean))
}
