// Command truesight is a runtime security agent and forensic scanner that
// speaks Falco's rules language. All logic lives in internal/.
package main

import (
	"os"

	"github.com/truesightsec/truesight/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
