// A command that must not exist: code users run built on test events.
package main

import "github.com/truesightsec/truesight/internal/enginetest"

func main() { _ = enginetest.Proc("/bin/true") }
