package main

import (
	"testing"

	"github.com/truesightsec/truesight/internal/enginetest"
)

// Tests may import it: this file is not reported.
func TestTool(t *testing.T) { _ = enginetest.Proc("/bin/true") }
