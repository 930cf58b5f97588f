package preflight

import (
	"errors"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/testenv"
)

func capsOf(bits ...uint) uint64 {
	var m uint64
	for _, b := range bits {
		m |= 1 << b
	}
	return m
}

func statuses(cs []Check) map[string]Status {
	m := map[string]Status{}
	for _, c := range cs {
		m[c.Name] = c.Status
	}
	return m
}

func TestCapsNameEachMissingCapabilityOfTheTier(t *testing.T) {
	detect := capsOf(capBPF, capPerfmon, capSysPtrace, capDacReadSearch, capSysChroot)
	tests := []struct {
		name         string
		tier         Tier
		caps         uint64
		major, minor int
		want         map[string]Status
	}{
		{"detect tier complete", Detect, detect, 6, 18, map[string]Status{
			"CAP_BPF": OK, "CAP_PERFMON": OK, "CAP_SYS_PTRACE": OK, "CAP_DAC_READ_SEARCH": OK, "CAP_SYS_CHROOT": OK, "CAP_SYS_RESOURCE": OK}},
		{"ptrace dropped", Detect, detect &^ capsOf(capSysPtrace), 6, 18, map[string]Status{
			"CAP_BPF": OK, "CAP_PERFMON": OK, "CAP_SYS_PTRACE": Missing, "CAP_DAC_READ_SEARCH": OK, "CAP_SYS_CHROOT": OK, "CAP_SYS_RESOURCE": OK}},
		{"sys_admin covers bpf and perfmon", Detect, capsOf(capSysAdmin, capSysPtrace, capDacReadSearch, capSysChroot), 6, 18, map[string]Status{
			"CAP_BPF": OK, "CAP_PERFMON": OK, "CAP_SYS_PTRACE": OK, "CAP_DAC_READ_SEARCH": OK, "CAP_SYS_CHROOT": OK, "CAP_SYS_RESOURCE": OK}},
		{"memlock needed before 5.11", Detect, detect, 5, 10, map[string]Status{
			"CAP_BPF": OK, "CAP_PERFMON": OK, "CAP_SYS_PTRACE": OK, "CAP_DAC_READ_SEARCH": OK, "CAP_SYS_CHROOT": OK, "CAP_SYS_RESOURCE": Missing}},
		{"enforce without sys_admin", Enforce, detect | capsOf(capKill), 6, 18, map[string]Status{
			"CAP_BPF": OK, "CAP_PERFMON": OK, "CAP_SYS_PTRACE": OK, "CAP_DAC_READ_SEARCH": OK, "CAP_SYS_CHROOT": OK, "CAP_SYS_RESOURCE": OK, "CAP_SYS_ADMIN": Missing, "CAP_KILL": OK}},
		{"enforce without kill", Enforce, detect | capsOf(capSysAdmin), 6, 18, map[string]Status{
			"CAP_BPF": OK, "CAP_PERFMON": OK, "CAP_SYS_PTRACE": OK, "CAP_DAC_READ_SEARCH": OK, "CAP_SYS_CHROOT": OK, "CAP_SYS_RESOURCE": OK, "CAP_SYS_ADMIN": OK, "CAP_KILL": Missing}},
		{"enforce complete", Enforce, detect | capsOf(capSysAdmin, capKill), 6, 18, map[string]Status{
			"CAP_BPF": OK, "CAP_PERFMON": OK, "CAP_SYS_PTRACE": OK, "CAP_DAC_READ_SEARCH": OK, "CAP_SYS_CHROOT": OK, "CAP_SYS_RESOURCE": OK, "CAP_SYS_ADMIN": OK, "CAP_KILL": OK}},
		{"nothing", Detect, 0, 6, 18, map[string]Status{
			"CAP_BPF": Missing, "CAP_PERFMON": Missing, "CAP_SYS_PTRACE": Missing, "CAP_DAC_READ_SEARCH": Missing, "CAP_SYS_CHROOT": Missing, "CAP_SYS_RESOURCE": OK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := statuses(checkCaps(tt.tier, tt.caps, nil, tt.major, tt.minor))
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s: got %s, want %s", k, got[k], v)
				}
			}
		})
	}
}

func TestUnreadableCapabilitiesAreMissing(t *testing.T) {
	for _, c := range checkCaps(Detect, 0, errors.New("no /proc"), 6, 18)[:5] {
		if c.Status != Missing || !strings.Contains(c.Detail, "no /proc") {
			t.Errorf("%s: %s %q", c.Name, c.Status, c.Detail)
		}
	}
}

func TestKernelOlderThan58IsMissing(t *testing.T) {
	tests := []struct {
		major, minor int
		want         Status
	}{{5, 7, Missing}, {5, 8, OK}, {6, 18, OK}, {4, 19, Missing}, {0, 0, Missing}}
	for _, tt := range tests {
		if got := checkKernel(tt.major, tt.minor, "x").Status; got != tt.want {
			t.Errorf("%d.%d: %s, want %s", tt.major, tt.minor, got, tt.want)
		}
	}
}

func TestErrNamesEveryMissingCheckWithWhatToDo(t *testing.T) {
	r := &Report{Checks: []Check{
		{Name: "kernel", Status: OK, Detail: "Linux 6.18"},
		{Name: "CAP_SYS_PTRACE", Status: Missing, Detail: "read maps", Fix: "add it"},
		{Name: "fanotify", Status: Warning, Detail: "EPERM", Fix: "enforce only"},
		{Name: "bpf()", Status: Missing, Detail: "EPERM", Fix: "Unconfined"},
	}}
	want := "this node or pod lacks what the agent needs (truesight preflight checks it):\n" +
		"  CAP_SYS_PTRACE: missing: read maps; add it\n" +
		"  bpf(): missing: EPERM; Unconfined"
	if err := r.Err(); err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if err := (&Report{Checks: r.Checks[:1]}).Err(); err != nil {
		t.Fatalf("nothing missing: %v", err)
	}
}

func TestRequiredPassesForRootOnThisNode(t *testing.T) {
	testenv.RequireRoot(t)
	if err := Required("").Err(); err != nil {
		t.Fatal(err)
	}
}
