package output

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// rfc5424 matches <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) (.*)$`)

// syslogMessage is a parsed RFC 5424 message.
type syslogMessage struct {
	pri                               int
	time                              time.Time
	host, app, procid, msgid, sd, msg string
}

func parse5424(t *testing.T, raw string) syslogMessage {
	t.Helper()
	m := rfc5424.FindStringSubmatch(raw)
	if m == nil {
		t.Fatalf("not RFC 5424: %q", raw)
	}
	pri, _ := strconv.Atoi(m[1])
	ts, err := time.Parse(time.RFC3339Nano, m[2])
	if err != nil {
		t.Fatalf("timestamp %q: %v", m[2], err)
	}
	return syslogMessage{pri, ts, m[3], m[4], m[5], m[6], m[7], m[8]}
}

// syslogReceiver listens on loopback (udp, tcp) or a unix datagram socket
// and delivers each message, unframed, on msgs.
type syslogReceiver struct {
	addr string // for SyslogOptions.Address
	msgs chan string
}

func listenSyslog(t *testing.T, network string) *syslogReceiver {
	t.Helper()
	r := &syslogReceiver{msgs: make(chan string, 100)}
	switch network {
	case "udp", "unixgram":
		addr := "127.0.0.1:0"
		if network == "unixgram" {
			addr = filepath.Join(t.TempDir(), "log")
		}
		pc, err := net.ListenPacket(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pc.Close() })
		r.addr = "udp://" + pc.LocalAddr().String()
		if network == "unixgram" {
			r.addr = "unix://" + addr
		}
		go func() {
			buf := make([]byte, 65536)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				r.msgs <- string(buf[:n])
			}
		}()
	case "tcp", "unix":
		addr := "127.0.0.1:0"
		if network == "unix" {
			addr = filepath.Join(t.TempDir(), "log")
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		r.addr = "tcp://" + ln.Addr().String()
		read := r.readFrames
		if network == "unix" {
			r.addr = "unix://" + addr
			read = r.readLines
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go read(c)
			}
		}()
	}
	return r
}

// readFrames reads octet-counted frames (RFC 6587: "LEN SP MSG").
func (r *syslogReceiver) readFrames(c net.Conn) {
	defer func() { _ = c.Close() }()
	br := bufio.NewReader(c)
	for {
		lenStr, err := br.ReadString(' ')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(lenStr[:len(lenStr)-1])
		if err != nil {
			r.msgs <- "bad frame length " + lenStr
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(br, msg); err != nil {
			return
		}
		r.msgs <- string(msg)
	}
}

// readLines reads newline-terminated messages, the framing of a local
// stream socket.
func (r *syslogReceiver) readLines(c net.Conn) {
	defer func() { _ = c.Close() }()
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		r.msgs <- line[:len(line)-1]
	}
}

func (r *syslogReceiver) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no syslog message")
		return ""
	}
}

func TestSyslogSinkSendsRFC5424WithSeverityFromPriority(t *testing.T) {
	priorities := []struct {
		name string
		sev  int
	}{
		{"Emergency", 0}, {"Alert", 1}, {"Critical", 2}, {"Error", 3},
		{"Warning", 4}, {"Notice", 5}, {"Informational", 6}, {"Debug", 7},
	}
	for _, network := range []string{"udp", "tcp", "unixgram", "unix"} {
		for _, facility := range []int{0, 16} { // 0: the default, user
			t.Run(fmt.Sprintf("%s/facility %d", network, facility), func(t *testing.T) {
				r := listenSyslog(t, network)
				s, err := NewSyslogSink(SyslogOptions{Address: r.addr, Facility: facility, Hostname: "node 1", Encoding: utcText})
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = s.Close() }()
				wantFacility := facility
				if wantFacility == 0 {
					wantFacility = 1
				}
				for _, p := range priorities {
					a := testAlert(3)
					a.Priority = p.name
					if err := s.Write(context.Background(), a); err != nil {
						t.Fatal(err)
					}
					m := parse5424(t, r.next(t))
					want := syslogMessage{
						pri: wantFacility*8 + p.sev, time: time.Unix(0, alertTime).Truncate(time.Microsecond),
						host: "node1", app: "truesight", procid: strconv.Itoa(os.Getpid()), msgid: "-", sd: "-",
						msg: "16:17:57.881781397: " + p.name + " File below /etc opened for writing (seq=3 proc=sh)",
					}
					if !m.time.Equal(want.time) {
						t.Errorf("time %v, want %v", m.time, want.time)
					}
					m.time, want.time = time.Time{}, time.Time{}
					if m != want {
						t.Errorf("%s:\n got %+v\nwant %+v", p.name, m, want)
					}
				}
			})
		}
	}
}

func TestSyslogSinkReconnectsWhenTheTCPReceiverRestarts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	r := &syslogReceiver{msgs: make(chan string, 10)}
	conns := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			go r.readFrames(c)
		}
	}()
	s, err := NewSyslogSink(SyslogOptions{Address: "tcp://" + ln.Addr().String(), Encoding: utcText, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	for i := range 3 {
		if err := s.Write(context.Background(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
		m := parse5424(t, r.next(t))
		if want := fmt.Sprintf("(seq=%d proc=sh)", i); m.msg[len(m.msg)-len(want):] != want {
			t.Errorf("message %d: %q", i, m.msg)
		}
		// The receiver drops the connection after each message.
		c := <-conns
		_ = c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParseSyslogAddress(t *testing.T) {
	cases := []struct {
		in, network, addr string
		err               bool
	}{
		{"", "unix", "/dev/log", false},
		{"unix:///run/systemd/journal/syslog", "unix", "/run/systemd/journal/syslog", false},
		{"unixgram:///dev/log", "unixgram", "/dev/log", false},
		{"udp://10.0.0.1:514", "udp", "10.0.0.1:514", false},
		{"tcp://[::1]:601", "tcp", "[::1]:601", false},
		{"tcp://syslog.example", "", "", true},
		{"tls://syslog.example:6514", "", "", true},
		{"unix://", "", "", true},
	}
	for _, c := range cases {
		n, a, err := ParseSyslogAddress(c.in)
		if n != c.network || a != c.addr || (err != nil) != c.err {
			t.Errorf("%q: got %q %q %v", c.in, n, a, err)
		}
	}
}
