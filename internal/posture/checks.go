package posture

import (
	"fmt"
	"strings"
)

// Severity orders findings; a higher value is worse.
type Severity int

// Severities, lowest first.
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = []string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name (info, low, medium, high, critical).
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("%q is not a severity: use one of %s", s, strings.Join(severityNames, ", "))
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name, so the JSON report reads back.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Check describes one check. Remediation is the YAML to add; "<c>"
// stands for the container's name.
type Check struct {
	ID          string
	Name        string
	Severity    Severity
	Reason      string
	Remediation string
}

// Check IDs. They are stable: new checks get new IDs, retired IDs are not
// reused.
const (
	ReadOnlyRoot       = "TSP001"
	RunsAsRoot         = "TSP002"
	PrivEscalation     = "TSP003"
	Privileged         = "TSP004"
	CapsNotDropped     = "TSP005"
	DangerousCap       = "TSP006"
	SharedPIDNamespace = "TSP007"
	AttackPath         = "TSP008"
	HostPID            = "TSP009"
	HostIPC            = "TSP010"
	HostNetwork        = "TSP011"
	Seccomp            = "TSP012"
	AppArmorMissing    = "TSP013"
	AppArmorEtcWrites  = "TSP014"
	WritableHostPath   = "TSP015"
	MountOverSystemDir = "TSP016"
	ServiceAccountTok  = "TSP017"
	ImageLoader        = "TSP018"
	ImageShell         = "TSP019"
	ImagePackageMgr    = "TSP020"
	NodeNoAppArmor     = "TSP021"
)

// Checks are all the checks, by ID.
var Checks = map[string]Check{
	ReadOnlyRoot: {ReadOnlyRoot, "writable-root-filesystem", Medium,
		"the root filesystem is writable: a process can rewrite /etc/ld.so.preload and the libraries it loads",
		"containers:\n- name: <c>\n  securityContext:\n    readOnlyRootFilesystem: true\n"},
	RunsAsRoot: {RunsAsRoot, "runs-as-root", Medium,
		"the container may run as uid 0, which owns /etc and the libraries of the image",
		"securityContext:\n  runAsNonRoot: true\n  runAsUser: 10001\n"},
	PrivEscalation: {PrivEscalation, "privilege-escalation-allowed", Medium,
		"allowPrivilegeEscalation is not false: setuid programs can give a process more privileges than its parent (no_new_privs unset)",
		"containers:\n- name: <c>\n  securityContext:\n    allowPrivilegeEscalation: false\n"},
	Privileged: {Privileged, "privileged", Critical,
		"the container is privileged: all capabilities and the host's devices, no confinement",
		"containers:\n- name: <c>\n  securityContext:\n    privileged: false\n"},
	CapsNotDropped: {CapsNotDropped, "capabilities-not-dropped", Low,
		"capabilities are not all dropped: the runtime's default set includes DAC_OVERRIDE, CHOWN and FOWNER, enough to rewrite any file of the root",
		"containers:\n- name: <c>\n  securityContext:\n    capabilities:\n      drop: [\"ALL\"]\n"},
	DangerousCap: {DangerousCap, "dangerous-capability", High,
		"a capability that breaks isolation is added (SYS_ADMIN, SYS_PTRACE, DAC_OVERRIDE, SYS_MODULE, ...): it reaches other processes' memory and files",
		"containers:\n- name: <c>\n  securityContext:\n    capabilities:\n      drop: [\"ALL\"]\n      add: []  # only what the program needs, e.g. NET_BIND_SERVICE\n"},
	SharedPIDNamespace: {SharedPIDNamespace, "shared-process-namespace", Medium,
		"the pod's containers share one process namespace: each can reach the others' files through /proc/<pid>/root",
		"shareProcessNamespace: false\n"},
	AttackPath: {AttackPath, "shared-pid-writable-etc", High,
		"the pod shares its process namespace and a container runs as root with a writable root filesystem: through /proc/<pid>/root it can write another container's /etc/ld.so.preload (the seed's attack)",
		"shareProcessNamespace: false\ncontainers:\n- name: <c>\n  securityContext:\n    runAsNonRoot: true\n    readOnlyRootFilesystem: true\n"},
	HostPID: {HostPID, "host-pid", High,
		"the pod uses the host's process namespace: it sees and can reach every process of the node",
		"hostPID: false\n"},
	HostIPC: {HostIPC, "host-ipc", Medium,
		"the pod uses the host's IPC namespace (shared memory, semaphores of the node)",
		"hostIPC: false\n"},
	HostNetwork: {HostNetwork, "host-network", Medium,
		"the pod uses the host's network namespace: node-local services and every interface are reachable",
		"hostNetwork: false\n"},
	Seccomp: {Seccomp, "seccomp-not-enforced", Medium,
		"no seccomp filter (unset or Unconfined): every system call is available, ptrace and process_vm_writev included",
		"securityContext:\n  seccompProfile:\n    type: RuntimeDefault\n"},
	AppArmorMissing: {AppArmorMissing, "apparmor-not-set", Medium,
		"no AppArmor profile is set or it is unconfined: nothing forbids writes under /etc",
		"containers:\n- name: <c>\n  securityContext:\n    appArmorProfile:\n      type: Localhost\n      localhostProfile: deny-etc-writes  # a profile with: deny /etc/** wl,\n"},
	AppArmorEtcWrites: {AppArmorEtcWrites, "apparmor-allows-etc-writes", Medium,
		"the AppArmor profile does not deny writes to /etc/ld.so.preload and /etc/** (runtime/default does not)",
		"# in the profile loaded on the node (apparmor_parser -r):\n  deny /etc/** wl,\n# and in the pod:\ncontainers:\n- name: <c>\n  securityContext:\n    appArmorProfile:\n      type: Localhost\n      localhostProfile: <profile>\n"},
	WritableHostPath: {WritableHostPath, "writable-host-mount", High,
		"a host directory is mounted writable: the container can change files of the node",
		"containers:\n- name: <c>\n  volumeMounts:\n  - name: <volume>\n    readOnly: true\n"},
	MountOverSystemDir: {MountOverSystemDir, "writable-mount-over-etc-or-lib", High,
		"a writable volume is mounted over /etc or /lib: the loader's configuration or the libraries can be replaced even with a read-only root",
		"containers:\n- name: <c>\n  volumeMounts:\n  - name: <volume>\n    mountPath: /data  # not under /etc, /lib, /lib64, /usr/lib\n    readOnly: true\n"},
	ServiceAccountTok: {ServiceAccountTok, "service-account-token-mounted", Low,
		"the service account token is mounted: a compromised container can call the Kubernetes API",
		"automountServiceAccountToken: false\n"},
	ImageLoader: {ImageLoader, "image-has-dynamic-loader", Low,
		"the root holds a dynamic loader: a library listed in /etc/ld.so.preload is loaded into every program (a static or distroless image has none to poison)",
		"# build from a static or distroless base, e.g.\n# FROM gcr.io/distroless/static-debian12\n"},
	ImageShell: {ImageShell, "image-has-shell", Low,
		"the root holds a shell: an intruder can run commands (echo > /etc/ld.so.preload) without bringing tools",
		"# build from a base image without a shell (distroless, scratch)\n"},
	ImagePackageMgr: {ImagePackageMgr, "image-has-package-manager", Low,
		"the root holds a package manager: an intruder can install compilers and tools",
		"# remove the package manager in the final stage, or use a multi-stage build\n"},
	NodeNoAppArmor: {NodeNoAppArmor, "node-apparmor-unavailable", Medium,
		"AppArmor is unavailable on this node: profiles asked for by manifests are not enforced (the runtime may drop them silently)",
		"# boot the node with AppArmor: lsm=...,apparmor on the kernel command line,\n# and check /sys/kernel/security/lsm lists apparmor\n"},
}

// CheckIDs returns the IDs of all checks in order.
func CheckIDs() []string {
	ids := make([]string, 0, len(Checks))
	for i := 1; i <= len(Checks); i++ {
		ids = append(ids, fmt.Sprintf("TSP%03d", i))
	}
	return ids
}
