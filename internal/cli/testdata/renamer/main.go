// Command renamer renames or hard-links its first argument onto its
// second and then waits, as an attacker's process that goes on using what
// it put in place. Built by the enforcement tests.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 4 || (os.Args[1] != "mv" && os.Args[1] != "ln") {
		fmt.Fprintln(os.Stderr, "usage: renamer mv|ln FROM TO")
		os.Exit(2)
	}
	op := os.Rename
	if os.Args[1] == "ln" {
		op = os.Link
	}
	if err := op(os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("done")
	time.Sleep(time.Minute)
}
