package sensor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

func TestLoadErrorExplains(t *testing.T) {
	log := make([]string, 30)
	for i := range log {
		log[i] = "line " + strconv.Itoa(i)
	}
	err := loadError(fmt.Errorf("program sys_exit: %w", &ebpf.VerifierError{Cause: unix.EACCES, Log: log}))
	msg := err.Error()
	if !strings.Contains(msg, "verifier rejected") || !strings.Contains(msg, "line 29") || !strings.Contains(msg, "line 10") || strings.Contains(msg, "line 9\n") {
		t.Errorf("verifier error does not end with the log's last 20 lines:\n%s", msg)
	}
	if !errors.Is(err, unix.EACCES) {
		t.Errorf("cause lost: %v", err)
	}
	err = loadError(fmt.Errorf("map events: %w", unix.EPERM))
	if !strings.Contains(err.Error(), "need CAP_BPF and CAP_PERFMON") || !errors.Is(err, unix.EPERM) {
		t.Errorf("EPERM error = %v", err)
	}
}
