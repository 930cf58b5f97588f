package cli

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/testenv"
)

// The agent as a user runs it: the real binary, configured with -o keys,
// delivering a live alert to an HTTP receiver the way falcosidekick takes
// it, then stopping cleanly on SIGINT.
func TestRunDeliversALiveAlertOverHTTP(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	bin := testenv.Truesight(t)

	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var a map[string]any
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &a) != nil {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		if a["rule"] == nil || a["priority"] == nil || a["time"] == nil || len(a["output_fields"].(map[string]any)) == 0 {
			http.Error(w, "missing rule, priority, time or output_fields", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	}))
	defer srv.Close()

	cmd := exec.Command(bin, "run", "--duration", "60s",
		"-o", "http_output.enabled=true", "-o", "http_output.url="+srv.URL+"/",
		"-o", "json_output=true", "-o", "stdout_output.enabled=false", "-o", "webserver.enabled=false",
		"--docker-socket", "", "--containerd-socket", "", "--cri-socket", "")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	waitLine := func(prefix string) {
		deadline := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("agent exited before %q:\n%s", prefix, strings.Join(log, "\n"))
				}
				log = append(log, l)
				if strings.Contains(l, prefix) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q within 30s:\n%s", prefix, strings.Join(log, "\n"))
			}
		}
	}
	waitLine("truesight: watching")

	marker := "ts-cli-" + filepath.Base(dir)
	act := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		"mount -t tmpfs tmpfs /etc && echo /lib/"+marker+".so >> /etc/ld.so.preload")
	if out, err := act.CombinedOutput(); err != nil {
		t.Fatalf("unshare: %v: %s", err, out)
	}
	var alert map[string]any
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && alert == nil; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		for _, a := range got {
			f := a["output_fields"].(map[string]any)
			if a["rule"] == "Modify ld.so.preload" && strings.Contains(f["proc.cmdline"].(string), marker) {
				alert = a
			}
		}
		mu.Unlock()
	}
	if alert == nil {
		t.Fatalf("no Modify ld.so.preload alert reached the HTTP receiver; got %d others", len(got))
	}
	if alert["priority"] != "Warning" || alert["source"] != "syscall" || alert["output_fields"].(map[string]any)["fd.name"] != "/etc/ld.so.preload" {
		t.Errorf("alert: %v", alert)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitLine("truesight: stopped:")
	if err := cmd.Wait(); err != nil {
		t.Errorf("agent exit: %v\n%s", err, strings.Join(log, "\n"))
	}
}
