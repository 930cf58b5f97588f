package output

import (
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// truesight's own log lines reach syslog as RFC 5424 messages whose
// severity follows the level, with their attributes.
func TestSyslogLogHandlerSendsLogLines(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h, err := NewSyslogLogHandler(SyslogOptions{Address: "unixgram://" + sock, Facility: 3}, slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	log := slog.New(h).With("component", "scan")
	log.Debug("not sent")
	log.Warn("scan failed", "error", "no such file", slog.Group("pid", "host", 42))
	log.Info("watching")

	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	want := []*regexp.Regexp{
		regexp.MustCompile(`^<28>1 \S+ \S+ truesight \d+ - - scan failed component=scan error="no such file" pid\.host=42$`),
		regexp.MustCompile(`^<30>1 \S+ \S+ truesight \d+ - - watching component=scan$`),
	}
	buf := make([]byte, 4096)
	for _, re := range want {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if got := string(buf[:n]); !re.MatchString(got) {
			t.Errorf("got %q, want %s", got, re)
		}
	}
}
