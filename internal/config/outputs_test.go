package config

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/output"
)

func TestOutputsBuildsTheEnabledOutputsInFalcoOrder(t *testing.T) {
	dir := t.TempDir()
	c := mustLoad(t, "", []string{
		"syslog_output.enabled=true",
		"syslog_output.address=udp://127.0.0.1:5514",
		"file_output.enabled=true",
		"file_output.filename=" + filepath.Join(dir, "events.txt"),
		"http_output.enabled=true",
		"http_output.url=http://127.0.0.1:2801/",
		"program_output.enabled=true",
		"program_output.program=cat > /dev/null",
		"outputs_queue.capacity=42",
	})
	outs, err := c.Outputs()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range outs {
		names = append(names, o.Name)
		if o.Capacity != 42 {
			t.Errorf("%s capacity %d", o.Name, o.Capacity)
		}
		_ = o.Sink.Close()
	}
	if got := strings.Join(names, ","); got != "stdout,syslog,file,http,program" {
		t.Errorf("outputs %s", got)
	}
}

func TestOutputsReportsWhatCannotStart(t *testing.T) {
	cases := []struct {
		overrides []string
		want      string
	}{
		{[]string{"stdout_output.enabled=false"}, "no output enabled"},
		{[]string{"file_output.enabled=true", "file_output.filename=/nonexistent/dir/events.txt"}, "file_output: open alert file"},
		{[]string{"http_output.enabled=true", "http_output.url=https://x/", "http_output.ca_cert=/nonexistent.pem"}, "http output: read CA certificate"},
	}
	for _, c := range cases {
		cfg := mustLoad(t, "", c.overrides)
		outs, err := cfg.Outputs()
		for _, o := range outs {
			_ = o.Sink.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.overrides, err, c.want)
		}
	}
}

func TestDispatcherOptionsCarryReportIntervalAndRateLimit(t *testing.T) {
	c := mustLoad(t, "truesight:\n  loss_report_interval: 3s\n  rate_limit:\n    enabled: true\n    window: 2m\n    max: 4\n", nil)
	o := c.DispatcherOptions(nil, "node1")
	if o.ReportInterval != 3*time.Second || o.Hostname != "node1" || o.RateLimit != (output.RateLimit{Window: 2 * time.Minute, Max: 4}) {
		t.Errorf("options %+v", o)
	}
	if o := mustLoad(t, "", nil).DispatcherOptions(nil, ""); o.RateLimit.Max != 0 {
		t.Errorf("rate limit on by default: %+v", o.RateLimit)
	}
}

func TestLoggerFollowsLogLevelAndFormat(t *testing.T) {
	var buf bytes.Buffer
	c := mustLoad(t, "log_level: warning\ntruesight:\n  log_format: json\n", nil)
	log := c.Logger(&buf)
	log.Info("hidden")
	log.Warn("shown", "output", "http")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["msg"] != "shown" || m["output"] != "http" {
		t.Errorf("log %q (%v)", buf.String(), err)
	}
	buf.Reset()
	c = mustLoad(t, "log_stderr: false\n", nil)
	c.Logger(&buf).Error("x")
	if buf.Len() != 0 {
		t.Errorf("log_stderr false still logs: %q", buf.String())
	}
}

// log_syslog sends the agent's log lines to syslog besides stderr.
func TestLogSyslogSendsLogLines(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cfg, _, err := Load("", []string{"log_syslog=true", "log_level=warning"})
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	log := slog.New(cfg.logHandler(&stderr, "unixgram://"+sock))
	log.Info("not at this level")
	log.Warn("container: no runtime answered", "tried", 3)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); !strings.HasPrefix(got, "<12>1 ") || !strings.HasSuffix(got, " - - container: no runtime answered tried=3") {
		t.Errorf("syslog got %q", got)
	}
	if !strings.Contains(stderr.String(), "container: no runtime answered") || strings.Contains(stderr.String(), "not at this level") {
		t.Errorf("stderr got %q", stderr.String())
	}
}
