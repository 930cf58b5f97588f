package output

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Syslog facilities by RFC 5424 name, for SyslogOptions.Facility.
var SyslogFacilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5,
	"lpr": 6, "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// syslogSeverity maps Falco priorities to syslog severities; the eight
// names are the same.
var syslogSeverity = map[string]int{
	"Emergency": 0, "Alert": 1, "Critical": 2, "Error": 3,
	"Warning": 4, "Notice": 5, "Informational": 6, "Debug": 7,
}

// SyslogOptions configure a SyslogSink.
type SyslogOptions struct {
	// Address is where messages go: "" or unix:///dev/log for the local
	// daemon, udp://host:514, or tcp://host:601 (octet-counted framing,
	// RFC 6587).
	Address string
	// Facility is the syslog facility number; 0 (kern) is not for
	// programs, so 0 means user (1), as Falco logs.
	Facility int
	// AppName is the APP-NAME field; empty means "truesight".
	AppName string
	// Hostname is the HOSTNAME field; empty means os.Hostname().
	Hostname string
	Encoding Encoding
	// Timeout bounds a connection attempt and a write; 0 means 5s.
	Timeout time.Duration
	// Retry says how failed sends are retried after reconnecting.
	Retry RetryPolicy
	// MessageOnly makes the MSG part the alert's Message alone, without
	// time and priority (for truesight's own log lines).
	MessageOnly bool
}

// SyslogSink sends each alert as an RFC 5424 message whose severity is the
// alert's priority.
type SyslogSink struct {
	o        SyslogOptions
	network  string // unixgram, unix, udp, tcp
	addr     string
	conn     net.Conn
	pid      string
	buf      []byte
	hostname string
}

// ParseSyslogAddress splits a syslog output address into a network and an
// address for net.Dial.
func ParseSyslogAddress(s string) (network, addr string, err error) {
	if s == "" {
		return "unix", "/dev/log", nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("syslog address %q: %w", s, err)
	}
	switch u.Scheme {
	case "unix", "unixgram":
		if u.Path == "" {
			return "", "", fmt.Errorf("syslog address %q: want unix:///path/to/socket", s)
		}
		return u.Scheme, u.Path, nil
	case "udp", "tcp":
		if u.Port() == "" {
			return "", "", fmt.Errorf("syslog address %q: want %s://host:port", s, u.Scheme)
		}
		return u.Scheme, u.Host, nil
	}
	return "", "", fmt.Errorf("syslog address %q: scheme must be unix, udp or tcp", s)
}

// NewSyslogSink checks the address; the connection is made at the first
// alert, so a syslog daemon that starts later is no error.
func NewSyslogSink(o SyslogOptions) (*SyslogSink, error) {
	network, addr, err := ParseSyslogAddress(o.Address)
	if err != nil {
		return nil, err
	}
	if o.Facility <= 0 || o.Facility > 23 {
		o.Facility = 1
	}
	if o.AppName == "" {
		o.AppName = "truesight"
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	host := o.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	return &SyslogSink{
		o: o, network: network, addr: addr,
		pid:      strconv.Itoa(os.Getpid()),
		hostname: header(host, 255),
	}, nil
}

// header makes s a valid RFC 5424 header field: printable US-ASCII without
// spaces, at most n bytes, "-" when empty.
func header(s string, n int) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; c > ' ' && c < 0x7f {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// Message returns the RFC 5424 message for an alert, without framing:
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG.
func (s *SyslogSink) Message(a *Alert) []byte {
	return s.appendMessage(nil, a)
}

func (s *SyslogSink) appendMessage(b []byte, a *Alert) []byte {
	sev, ok := syslogSeverity[a.Priority]
	if !ok {
		sev = 5 // notice
	}
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(s.o.Facility*8+sev), 10)
	b = append(b, ">1 "...)
	b = time.Unix(0, a.Time).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, ' ')
	b = append(b, s.hostname...)
	b = append(b, ' ')
	b = append(b, header(s.o.AppName, 48)...)
	b = append(b, ' ')
	b = append(b, s.pid...)
	b = append(b, " - - "...)
	if s.o.MessageOnly {
		return append(b, a.Message...)
	}
	return s.o.Encoding.AppendLine(b, a)
}

func (s *SyslogSink) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: s.o.Timeout}
	conn, err := d.DialContext(ctx, s.network, s.addr)
	if err != nil && s.network == "unix" && errors.Is(err, syscall.EPROTOTYPE) {
		// /dev/log is a datagram socket on systemd and rsyslog systems.
		conn, err = d.DialContext(ctx, "unixgram", s.addr)
		if err == nil {
			s.network = "unixgram"
		}
	}
	if err != nil {
		return fmt.Errorf("connect to syslog: %w", err)
	}
	s.conn = conn
	return nil
}

// Write sends the alert, reconnecting and retrying as the policy allows.
func (s *SyslogSink) Write(ctx context.Context, a *Alert) error {
	return withRetry(ctx, s.o.Retry, func() (time.Duration, error) {
		if s.conn != nil && s.peerClosed() {
			_ = s.conn.Close()
			s.conn = nil
		}
		if s.conn == nil {
			if err := s.dial(ctx); err != nil {
				return 0, err
			}
		}
		// Framing depends on the socket type, known once connected.
		s.buf = s.frame(s.buf[:0], a)
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.o.Timeout))
		stop := context.AfterFunc(ctx, func() { _ = s.conn.SetWriteDeadline(time.Now()) })
		_, err := s.conn.Write(s.buf)
		stop()
		if err != nil {
			// A stream may have sent part of the message: start afresh.
			_ = s.conn.Close()
			s.conn = nil
			return 0, fmt.Errorf("send to syslog: %w", err)
		}
		return 0, nil
	})
}

// peerClosed reports whether the receiver closed a TCP connection. A write
// to such a connection still succeeds once, and the message is lost; a
// syslog receiver never sends, so readable data or end of stream means the
// connection is dead. This narrows, but cannot close, the window in which
// a restarting receiver loses a message.
func (s *SyslogSink) peerClosed() bool {
	tc, ok := s.conn.(*net.TCPConn)
	if !ok {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	_ = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		closed = n > 0 || (err == nil && n == 0) || (err != nil && err != unix.EAGAIN)
		return true
	})
	return closed
}

// frame appends the message in the transport's framing: octet counting on
// TCP, a trailing newline on a local stream socket, none on datagrams.
func (s *SyslogSink) frame(b []byte, a *Alert) []byte {
	switch s.network {
	case "tcp":
		msg := s.appendMessage(nil, a)
		b = strconv.AppendInt(b, int64(len(msg)), 10)
		b = append(b, ' ')
		return append(b, msg...)
	case "unix":
		return append(s.appendMessage(b, a), '\n')
	}
	return s.appendMessage(b, a)
}

// Close closes the connection.
func (s *SyslogSink) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
