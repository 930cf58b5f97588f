package node

import "testing"

func TestPathJoinsTheNodePathBelowTheRoot(t *testing.T) {
	tests := []struct {
		root Root
		p    string
		want string
	}{
		{"", "/proc", "/proc"},
		{"/", "/proc", "/proc"},
		{"/host", "/proc", "/host/proc"},
		{"/host/", "/run/containerd/containerd.sock", "/host/run/containerd/containerd.sock"},
		{"/host", "proc/sys/kernel/pid_max", "/host/proc/sys/kernel/pid_max"},
		{"/host", "/", "/host"},
		{"/host", "/../../etc/passwd", "/host/etc/passwd"},
		{"", "/etc/../proc", "/proc"},
	}
	for _, tt := range tests {
		if got := tt.root.Path(tt.p); got != tt.want {
			t.Errorf("Root(%q).Path(%q) = %q, want %q", tt.root, tt.p, got, tt.want)
		}
	}
}
