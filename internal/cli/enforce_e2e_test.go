package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/testenv"
)

// ownContainers limits protection to this file's containers: other tests
// (and other jobs on a shared machine) run containers at the same time,
// which an agent without selectors would protect too.
const ownContainers = "truesight.enforce.selectors=[{name: 'ts-enforce-*'}]"

// renamer builds testdata/renamer: a process that renames or links a file
// onto another and keeps running.
func renamer(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "renamer")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/renamer")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build renamer: %v: %s", err, b)
	}
	return out
}

// exitOf runs a command and returns its exit code and stderr.
func exitOf(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	}
	t.Fatal(err)
	return -1, ""
}

func enforceAlert(action, container string) func(string, map[string]any) bool {
	return func(rule string, f map[string]any) bool {
		return rule == "Write to a protected loader file" && f["finding.detail[action]"] == action &&
			f["finding.detail[target_container]"] == container
	}
}

func TestRunEnforceDeniesWritesInAContainerStartedBeforeItAndUndoesARename(t *testing.T) {
	testenv.RequireRoot(t)
	sock := testenv.PodmanService(t)
	ren := renamer(t)
	state := filepath.Join(t.TempDir(), "enforce.state")
	// Started before the agent: protected by the registry's first listing.
	id := testenv.StartContainer(t, "ts-enforce-run", nil, "sleep", "120")
	a := startAgent(t, []string{"DOCKER_HOST=unix://" + sock}, "--containerd-socket", "", "--cri-socket", "",
		"--enforce", "-o", "truesight.enforce.state_file="+state, "--scan-interval", "0", "-o", ownContainers)
	// The part marks the container's filesystem shortly after the
	// registry's first listing.
	waitProtected(t, state, id)

	out, err := exec.Command(testenv.Truesight(t), "enforce", "status", "-o", "truesight.enforce.state_file="+state).Output()
	if err != nil || !bytes.Contains(out, []byte("protection: running")) || !bytes.Contains(out, []byte("ts-enforce-run")) || !bytes.Contains(out, []byte("mode enforce")) {
		t.Errorf("enforce status: %v:\n%s", err, out)
	}

	rc, stderr := exitOf(t, "podman", "exec", "ts-enforce-run", "sh", "-c", "echo /tmp/evil.so >> /etc/ld.so.preload")
	if rc == 0 || !strings.Contains(stderr, "Operation not permitted") {
		t.Fatalf("write in the protected container: exit %d, %q; want EPERM", rc, stderr)
	}
	got := a.waitFor(t, "denied write of /etc/ld.so.preload", enforceAlert("denied", id[:12]))
	f := got["output_fields"].(map[string]any)
	if f["container.id"] != id[:12] || f["finding.detail[policy]"] != "/etc/ld.so.preload" || f["proc.name"] != "sh" {
		t.Errorf("alert fields %v", f)
	}
	if rc, _ := exitOf(t, "podman", "exec", "ts-enforce-run", "test", "-e", "/etc/ld.so.preload"); rc == 0 {
		t.Error("/etc/ld.so.preload exists after the denied create")
	}

	// A rename has no permission hook: the sensor sees it, the process is
	// killed and the path restored (here: removed, it had no file).
	testenv.Podman(t, "cp", ren, "ts-enforce-run:/tmp/renamer")
	cmd := exec.Command("podman", "exec", "ts-enforce-run", "sh", "-c", "echo /tmp/evil.so > /tmp/x && exec /tmp/renamer mv /tmp/x /etc/ld.so.preload")
	out, err = cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || string(out) != "done\n" {
		t.Fatalf("renamer: %q, %v; want it to rename and then die", out, err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || (ws.ExitStatus() != 137 && (!ws.Signaled() || ws.Signal() != syscall.SIGKILL)) {
		t.Errorf("renamer ended with %v, want SIGKILL (137)", ee)
	}
	got = a.waitFor(t, "restore after rename", enforceAlert("restored", id[:12]))
	f = got["output_fields"].(map[string]any)
	if f["finding.detail[syscall]"] != "rename" && f["finding.detail[syscall]"] != "renameat" && f["finding.detail[syscall]"] != "renameat2" ||
		f["finding.detail[killed]"] != "true" || f["proc.exepath"] != "/tmp/renamer" {
		t.Errorf("alert fields %v", f)
	}
	t.Logf("rename visible for %v", f["finding.detail[window]"])
	if rc, _ := exitOf(t, "podman", "exec", "ts-enforce-run", "test", "-e", "/etc/ld.so.preload"); rc == 0 {
		t.Error("/etc/ld.so.preload still exists after the rename was undone")
	}

	// A hard link onto a protected directory's entry: undone too.
	cmd = exec.Command("podman", "exec", "ts-enforce-run", "sh", "-c", "mkdir -p /etc/ld.so.conf.d && echo /tmp > /tmp/y && exec /tmp/renamer ln /tmp/y /etc/ld.so.conf.d/evil.conf")
	if out, _ := cmd.Output(); string(out) != "done\n" {
		t.Fatalf("link: %q", out)
	}
	a.waitFor(t, "restore after link", func(rule string, f map[string]any) bool {
		return enforceAlert("restored", id[:12])(rule, f) && f["finding.detail[path]"] == "/etc/ld.so.conf.d/evil.conf"
	})
	if rc, _ := exitOf(t, "podman", "exec", "ts-enforce-run", "test", "-e", "/etc/ld.so.conf.d/evil.conf"); rc == 0 {
		t.Error("the link onto /etc/ld.so.conf.d/evil.conf is still there")
	}
}

func TestRunDetectModeOnlyAlerts(t *testing.T) {
	testenv.RequireRoot(t)
	sock := testenv.PodmanService(t)
	state := filepath.Join(t.TempDir(), "enforce.state")
	a := startAgent(t, []string{"DOCKER_HOST=unix://" + sock}, "--containerd-socket", "", "--cri-socket", "",
		"-o", "truesight.enforce.enabled=true", "-o", "truesight.enforce.state_file="+state, "--scan-interval", "0", "-o", ownContainers)
	// Started after the agent: protected as the runtime reports it.
	id := testenv.StartContainer(t, "ts-enforce-detect-run", nil, "sleep", "120")
	waitProtected(t, state, id)
	if rc, stderr := exitOf(t, "podman", "exec", "ts-enforce-detect-run", "sh", "-c", "echo /tmp/evil.so >> /etc/ld.so.preload"); rc != 0 {
		t.Fatalf("detect mode: write failed: %d %s", rc, stderr)
	}
	got := a.waitFor(t, "alerted write", enforceAlert("alerted", id[:12]))
	if f := got["output_fields"].(map[string]any); f["finding.detail[mode]"] != "detect" {
		t.Errorf("alert fields %v", f)
	}
	if out := testenv.Podman(t, "exec", "ts-enforce-detect-run", "cat", "/etc/ld.so.preload"); out != "/tmp/evil.so" {
		t.Errorf("/etc/ld.so.preload = %q, want the write through", out)
	}

	// A restarted container has a new root mount: protected again.
	testenv.Podman(t, "restart", "-t", "0", "ts-enforce-detect-run")
	pid := testenv.Podman(t, "inspect", "-f", "{{.State.Pid}}", id)
	waitProtected(t, state, "/proc/"+pid+"/root")
	if rc, stderr := exitOf(t, "podman", "exec", "ts-enforce-detect-run", "sh", "-c", "echo again >> /etc/ld.so.conf"); rc != 0 {
		t.Fatalf("write after the restart: %d %s", rc, stderr)
	}
	a.waitFor(t, "alerted write after the restart", func(rule string, f map[string]any) bool {
		return enforceAlert("alerted", id[:12])(rule, f) && f["finding.detail[path]"] == "/etc/ld.so.conf"
	})
}

// waitProtected waits until the state file names what (a container id, a
// root's directory).
func waitProtected(t *testing.T, state, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, _ := os.ReadFile(state); bytes.Contains(b, []byte(id)) {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(state)
			t.Fatalf("container %s not protected within 20s; state file: %s", id[:12], b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAKilledAgentReleasesAWaitingWriteAndTheNextStartSaysProtectionLapsed(t *testing.T) {
	testenv.RequireRoot(t)
	sock := testenv.PodmanService(t)
	state := filepath.Join(t.TempDir(), "enforce.state")
	env := []string{"DOCKER_HOST=unix://" + sock}
	args := []string{"--containerd-socket", "", "--cri-socket", "", "--enforce", "-o", "truesight.enforce.state_file=" + state, "--scan-interval", "0", "-o", ownContainers}
	id := testenv.StartContainer(t, "ts-enforce-lapse", nil, "sleep", "120")
	first := startAgent(t, env, args...)
	waitProtected(t, state, id)
	pid := testenv.Podman(t, "inspect", "-f", "{{.State.Pid}}", id)

	// The agent stops answering: an open in the container waits.
	if err := first.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Run the write from the host inside the container's root, so that
	// nothing else (podman exec) has to open files there first.
	write := exec.Command("chroot", "/proc/"+pid+"/root", "/bin/sh", "-c", "echo released >> /etc/motd")
	if err := write.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- write.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("the write did not wait for the stopped agent (ended with %v): the filesystem is not marked", err)
	case <-time.After(500 * time.Millisecond):
	}
	// SIGKILL: the kernel releases every open waiting for the dead group.
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the released write failed: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = write.Process.Kill()
		t.Fatal("the write still waits 10s after the agent was killed")
	}
	_ = first.cmd.Wait()

	out, _ := exec.Command(testenv.Truesight(t), "enforce", "status", "-o", "truesight.enforce.state_file="+state).Output()
	if !bytes.Contains(out, []byte("protection: LAPSED")) {
		t.Errorf("enforce status after the agent died:\n%s", out)
	}
	second := startAgent(t, env, args...)
	second.waitFor(t, "protection lapsed", func(rule string, f map[string]any) bool {
		return rule == "Protection of loader files not in force" && f["finding.detail[action]"] == "lapsed"
	})
}

func TestRunEnforceUndoesAPodSiblingsRenameThroughProcRoot(t *testing.T) {
	testenv.RequireRoot(t)
	sock := testenv.PodmanService(t)
	ren := renamer(t)
	state := filepath.Join(t.TempDir(), "enforce.state")
	const pod = "ts-enforce-runpod"
	_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run()
	testenv.Podman(t, "pod", "create", "--name", pod, "--share", "pid")
	t.Cleanup(func() { _ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run() })
	sidecar := testenv.StartContainer(t, pod+"-sidecar", []string{"--pod", pod}, "sh", "-c", "touch /tmp/i-am-the-sidecar; exec sleep 120")
	attacker := testenv.StartContainer(t, pod+"-nginx", []string{"--pod", pod}, "sleep", "120")
	a := startAgent(t, []string{"DOCKER_HOST=unix://" + sock}, "--containerd-socket", "", "--cri-socket", "",
		"--enforce", "-o", "truesight.enforce.state_file="+state, "--scan-interval", "0", "-o", ownContainers)
	waitProtected(t, state, sidecar)
	testenv.Podman(t, "cp", ren, pod+"-nginx:/tmp/renamer")
	// The file is made in the sidecar's own /tmp (a rename cannot cross
	// filesystems), then renamed onto its /etc/ld.so.preload.
	script := `for p in /proc/[0-9]*; do if [ -e $p/root/tmp/i-am-the-sidecar ]; then echo /tmp/evil.so > $p/root/tmp/x && exec /tmp/renamer mv $p/root/tmp/x $p/root/etc/ld.so.preload; fi; done; exit 99`
	out, _ := exec.Command("podman", "exec", pod+"-nginx", "sh", "-c", script).Output()
	if string(out) != "done\n" {
		t.Fatalf("the sibling's rename: %q", out)
	}
	got := a.waitFor(t, "restore of the sidecar's file", enforceAlert("restored", sidecar[:12]))
	if f := got["output_fields"].(map[string]any); f["container.id"] != attacker[:12] || f["finding.detail[killed]"] != "true" {
		t.Errorf("alert fields %v; want the attacker %s killed", f, attacker[:12])
	}
	if rc, _ := exitOf(t, "podman", "exec", pod+"-sidecar", "test", "-e", "/etc/ld.so.preload"); rc == 0 {
		t.Error("the sidecar's /etc/ld.so.preload is still there")
	}
}
