package output

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// SyslogLogHandler is a slog.Handler that sends truesight's own log lines
// (not alerts) to syslog, as Falco's log_syslog does: one RFC 5424 message
// per record, its severity from the record's level. A syslog that cannot
// be reached loses the line; the other log handlers still have it.
type SyslogLogHandler struct {
	level slog.Leveler
	attrs string // "key=value" pairs of WithAttrs, each after a space
	group string // prefix of the keys, from WithGroup
	out   *syslogLog
}

// syslogLog is the connection the handlers derived from one another share.
type syslogLog struct {
	mu   sync.Mutex
	sink *SyslogSink
}

// NewSyslogLogHandler returns a handler sending records at level and above
// to the syslog at o.Address ("" for the local /dev/log).
func NewSyslogLogHandler(o SyslogOptions, level slog.Leveler) (*SyslogLogHandler, error) {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	o.Retry = RetryPolicy{} // a log line is not worth holding the caller
	o.MessageOnly = true
	sink, err := NewSyslogSink(o)
	if err != nil {
		return nil, err
	}
	return &SyslogLogHandler{level: level, out: &syslogLog{sink: sink}}, nil
}

// Enabled reports whether records at level are sent.
func (h *SyslogLogHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// Handle sends one record.
func (h *SyslogLogHandler) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.group, a)
		return true
	})
	a := &Alert{Time: r.Time.UnixNano(), Priority: levelPriority(r.Level), Message: b.String()}
	if a.Time <= 0 {
		a.Time = time.Now().UnixNano()
	}
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	_ = h.out.sink.Write(context.WithoutCancel(ctx), a) // see the type's comment
	return nil
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *SyslogLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		appendAttr(&b, h.group, a)
	}
	c := *h
	c.attrs = b.String()
	return &c
}

// WithGroup returns a handler that puts later keys in the group.
func (h *SyslogLogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group += name + "."
	return &c
}

// Close closes the connection to syslog.
func (h *SyslogLogHandler) Close() error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	return h.out.sink.Close()
}

func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			appendAttr(b, group+a.Key+".", g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(group)
	b.WriteString(a.Key)
	b.WriteByte('=')
	v := a.Value.Resolve().String()
	if strings.ContainsAny(v, " \t\"=") || v == "" {
		v = `"` + strings.ReplaceAll(v, `"`, `\"`) + `"`
	}
	b.WriteString(v)
}

// levelPriority names a slog level as the syslog severity Falco would
// give it.
func levelPriority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "Error"
	case l >= slog.LevelWarn:
		return "Warning"
	case l >= slog.LevelInfo:
		return "Informational"
	}
	return "Debug"
}
