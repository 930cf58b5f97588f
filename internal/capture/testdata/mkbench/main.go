// Command mkbench builds a large capture for benchmarks: the tables of a
// source capture followed by its events repeated, with rising timestamps,
// until the output holds at least -n events. sysdig reads the result.
//
//	go run ./internal/capture/testdata/mkbench -in SRC.scap -out BIG.scap -n 1000000
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/truesightsec/truesight/internal/capture"
)

func main() {
	in := flag.String("in", "", "source capture")
	out := flag.String("out", "", "capture to write")
	n := flag.Uint64("n", 1_000_000, "minimum number of events")
	gz := flag.Bool("z", false, "gzip the output")
	flag.Parse()
	if *in == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w, err := capture.NewWriter(f, capture.WriterOptions{Compress: *gz})
	if err != nil {
		log.Fatal(err)
	}
	var last int64
	for round := 0; w.Count < *n; round++ {
		opts := &capture.Options{}
		if round == 0 {
			opts.OnBlock = func(typ uint32, body []byte) {
				if err := w.WriteBlock(typ, body); err != nil {
					log.Fatal(err)
				}
			}
		}
		r, err := capture.Open(*in, opts)
		if err != nil {
			log.Fatal(err)
		}
		var ev capture.Event
		var shift int64
		for w.Count < *n {
			err := r.Next(&ev)
			if err == io.EOF {
				break
			}
			if err != nil {
				log.Fatal(err)
			}
			if round > 0 && shift == 0 {
				shift = last + 1000 - ev.Time
			}
			last = ev.Time + shift
			if err := w.CopyEvent(&ev, last); err != nil {
				log.Fatal(err)
			}
		}
		r.Close()
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d events\n", *out, w.Count)
}
