package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/version"
)

// MinPriority is the parsed priority key.
func (c *Config) MinPriority() rules.Priority {
	p, _ := rules.ParsePriority(c.Priority) // validated by Load
	return p
}

// AllMatching reports whether rule_matching is all.
func (c *Config) AllMatching() bool { return strings.EqualFold(c.RuleMatching, "all") }

// Encoding is the alert encoding that json_output, the json_include_*
// keys and time_format_iso_8601 select.
func (c *Config) Encoding() output.Encoding {
	return output.Encoding{JSON: c.JSONOutput, Options: c.jsonOptions()}
}

func (c *Config) jsonOptions() output.JSONOptions {
	return output.JSONOptions{
		Text:             output.TextOptions{ISO8601: c.TimeFormatISO8601},
		OmitOutput:       !c.JSONIncludeOutputProperty,
		OmitTags:         !c.JSONIncludeTagsProperty,
		OmitOutputFields: !c.JSONIncludeOutputFieldsProperty,
		IncludeMessage:   c.JSONIncludeMessageProperty,
	}
}

func (c *Config) outputTimeout() time.Duration {
	return time.Duration(c.OutputTimeout) * time.Millisecond
}

// Outputs builds the enabled outputs, in Falco's order: stdout, syslog,
// file, http, program. Files are opened and TLS material loaded now, so
// mistakes show at startup.
func (c *Config) Outputs() ([]output.Output, error) {
	var outs []output.Output
	add := func(name string, s output.Sink) {
		outs = append(outs, output.Output{Name: name, Sink: s, Capacity: c.OutputsQueue.Capacity})
	}
	enc := c.Encoding()
	if c.StdoutOutput.Enabled {
		colour := map[string]output.ColourMode{
			"auto": output.ColourAuto, "always": output.ColourAlways, "never": output.ColourNever,
		}[strings.ToLower(c.StdoutOutput.Colour)]
		add("stdout", output.NewStdoutSink(output.StdoutOptions{Encoding: enc, Colour: colour}))
	}
	if c.SyslogOutput.Enabled {
		s, err := output.NewSyslogSink(output.SyslogOptions{
			Address:  c.SyslogOutput.Address,
			Facility: output.SyslogFacilities[strings.ToLower(c.SyslogOutput.Facility)],
			AppName:  c.SyslogOutput.AppName,
			Encoding: enc,
			Timeout:  c.outputTimeout(),
			Retry:    output.RetryPolicy{MaxRetries: 1},
		})
		if err != nil {
			return nil, err
		}
		add("syslog", s)
	}
	if c.FileOutput.Enabled {
		s, err := output.NewFileSink(output.FileOptions{Path: c.FileOutput.Filename, Encoding: enc})
		if err != nil {
			return nil, fmt.Errorf("file_output: %w", err)
		}
		add("file", s)
	}
	if c.HTTPOutput.Enabled {
		h := c.HTTPOutput
		o := output.HTTPOptions{
			URL:              h.URL,
			UserAgent:        h.UserAgent,
			Headers:          h.CustomHeaders,
			JSON:             c.jsonOptions(),
			DisableKeepAlive: !h.KeepAlive,
			Timeout:          c.outputTimeout(),
			Retry:            output.RetryPolicy{MaxRetries: h.MaxRetries, MaxBackoff: time.Duration(h.RetryMaxBackoff)},
			TLS: output.TLSOptions{
				Insecure: h.Insecure, CACert: h.CACert, CABundle: h.CABundle, CAPath: h.CAPath,
			},
		}
		if o.UserAgent == "" {
			o.UserAgent = "truesight/" + version.Version
		}
		if h.MTLS {
			o.TLS.ClientCert, o.TLS.ClientKey = h.ClientCert, h.ClientKey
		}
		if h.Echo {
			o.Echo = os.Stdout
		}
		s, err := output.NewHTTPSink(o)
		if err != nil {
			return nil, err
		}
		add("http", s)
	}
	if c.ProgramOutput.Enabled {
		s, err := output.NewProgramSink(output.ProgramOptions{
			Command:   c.ProgramOutput.Program,
			KeepAlive: c.ProgramOutput.KeepAlive,
			Encoding:  enc,
			Timeout:   c.outputTimeout(),
		})
		if err != nil {
			return nil, err
		}
		add("program", s)
	}
	if len(outs) == 0 {
		return nil, errors.New("no output enabled: enable at least one of stdout_output, syslog_output, file_output, http_output, program_output")
	}
	return outs, nil
}

// DispatcherOptions are the options of the Dispatcher for Outputs.
func (c *Config) DispatcherOptions(log *slog.Logger, hostname string) output.DispatcherOptions {
	o := output.DispatcherOptions{
		Logger:         log,
		ReportInterval: time.Duration(c.Truesight.LossReportInterval),
		Hostname:       hostname,
	}
	if rl := c.Truesight.RateLimit; rl.Enabled {
		o.RateLimit = output.RateLimit{Window: time.Duration(rl.Window), Max: rl.Max}
	}
	return o
}

// ShutdownTimeout bounds the flush of queued alerts at exit.
func (c *Config) ShutdownTimeout() time.Duration { return time.Duration(c.Truesight.ShutdownTimeout) }

// slogLevel maps a log_level to a slog level: Falco's emergency to error
// are slog's Error, warning is Warn, notice and info are Info.
func slogLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "notice", "info":
		return slog.LevelInfo
	case "warning":
		return slog.LevelWarn
	}
	return slog.LevelError
}

// Logger returns truesight's operational logger: text or JSON
// (truesight.log_format) on w, at log_level; log_stderr: false discards.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	return slog.New(c.logHandler(w, ""))
}

// logHandler sends log records to w (log_stderr) and to the syslog at
// syslogAddr, "" for the local one (log_syslog).
func (c *Config) logHandler(w io.Writer, syslogAddr string) slog.Handler {
	level := slogLevel(c.LogLevel)
	var hs []slog.Handler
	if c.LogStderr {
		ho := &slog.HandlerOptions{Level: level}
		if strings.EqualFold(c.Truesight.LogFormat, "json") {
			hs = append(hs, slog.NewJSONHandler(w, ho))
		} else {
			hs = append(hs, slog.NewTextHandler(w, ho))
		}
	}
	if c.LogSyslog {
		// The address is checked by parsing only; the connection is made
		// at the first line, so a syslog daemon that starts later is fine.
		if h, err := output.NewSyslogLogHandler(output.SyslogOptions{Address: syslogAddr}, level); err == nil {
			hs = append(hs, h)
		}
	}
	switch len(hs) {
	case 0:
		return slog.DiscardHandler
	case 1:
		return hs[0]
	}
	return slog.NewMultiHandler(hs...)
}
