package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
)

// logLevels are Falco's log_level names.
var logLevels = []string{"emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"}

// validate checks values whose type was right but whose content is not,
// and the settings that depend on each other.
func (d *decoder) validate(c *Config) {
	bad := func(key, format string, args ...any) {
		d.errs = append(d.errs, &Error{Position: d.pos[key], Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	warn := func(key, format string, args ...any) {
		d.warnings = append(d.warnings, Warning{Position: d.pos[key], Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	oneOf := func(key, val string, allowed ...string) {
		for _, a := range allowed {
			if strings.EqualFold(val, a) {
				return
			}
		}
		bad(key, "%q is not one of %s", val, strings.Join(allowed, ", "))
	}

	if _, ok := rules.ParsePriority(c.Priority); !ok {
		bad("priority", "%q is not a priority (emergency, alert, critical, error, warning, notice, informational, debug)", c.Priority)
	}
	oneOf("rule_matching", c.RuleMatching, "first", "all")
	oneOf("log_level", c.LogLevel, logLevels...)
	oneOf("truesight.log_format", c.Truesight.LogFormat, "text", "json")
	oneOf("stdout_output.colour", c.StdoutOutput.Colour, "auto", "always", "never")

	if c.OutputsQueue.Capacity < 0 {
		bad("outputs_queue.capacity", "must be 0 (the default) or more, got %d", c.OutputsQueue.Capacity)
	}
	if c.OutputTimeout <= 0 {
		bad("output_timeout", "must be a positive number of milliseconds, got %d", c.OutputTimeout)
	}

	if _, ok := output.SyslogFacilities[strings.ToLower(c.SyslogOutput.Facility)]; !ok {
		bad("syslog_output.facility", "%q is not a syslog facility (user, daemon, auth, local0 ... local7, ...)", c.SyslogOutput.Facility)
	}
	if _, _, err := output.ParseSyslogAddress(c.SyslogOutput.Address); err != nil {
		bad("syslog_output.address", "%v", err)
	}

	if c.FileOutput.Enabled && c.FileOutput.Filename == "" {
		bad("file_output.enabled", "file output enabled without file_output.filename")
	}

	h := c.HTTPOutput
	if h.Enabled {
		if h.URL == "" {
			bad("http_output.enabled", "HTTP output enabled without http_output.url")
		} else if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("http_output.url", "%q is not an http:// or https:// URL with a host", h.URL)
		}
		if h.MTLS && (h.ClientCert == "" || h.ClientKey == "") {
			bad("http_output.mtls", "mutual TLS needs http_output.client_cert and http_output.client_key")
		}
	}
	if h.MaxRetries < -1 {
		bad("http_output.max_retries", "must be -1 (until delivered), 0 or more, got %d", h.MaxRetries)
	}
	for name := range h.CustomHeaders {
		if strings.EqualFold(name, "Content-Type") {
			bad("http_output.custom_headers."+name, "Content-Type is always application/json")
		}
	}

	if c.ProgramOutput.Enabled && strings.TrimSpace(c.ProgramOutput.Program) == "" {
		bad("program_output.enabled", "program output enabled without program_output.program")
	}

	w := c.Webserver
	if w.Enabled {
		if w.ListenPort < 1 || w.ListenPort > 65535 {
			bad("webserver.listen_port", "must be a port number from 1 to 65535, got %d", w.ListenPort)
		}
		if !strings.HasPrefix(w.K8sHealthzEndpoint, "/") {
			bad("webserver.k8s_healthz_endpoint", "must be a path starting with /, got %q", w.K8sHealthzEndpoint)
		}
		if w.SSLEnabled && w.SSLCertificate == "" {
			bad("webserver.ssl_enabled", "TLS enabled without webserver.ssl_certificate")
		}
	}

	rl := c.Truesight.RateLimit
	if rl.Enabled && (rl.Window <= 0 || rl.Max < 1) {
		bad("truesight.rate_limit.enabled", "rate limiting needs a positive window and a max of at least 1")
	}

	if c.Truesight.Snaplen < 0 || c.Truesight.Snaplen > 4096 { // sensor.MaxSnaplen
		bad("truesight.snaplen", "must be from 0 to 4096 bytes, got %d", c.Truesight.Snaplen)
	}
	if c.Truesight.Containers.Timeout <= 0 {
		bad("truesight.containers.timeout", "must be positive")
	}
	if hr := c.Truesight.Containers.HostRoot; hr != "" && !strings.HasPrefix(hr, "/") {
		bad("truesight.containers.host_root", "%q is not an absolute path: give the directory where the node's / is mounted, e.g. /host", hr)
	}

	d.validateDrops(c, bad)
	validateConsole(c, bad)
	validateFIM(c, bad)
	validateEnforce(c, bad)
	validatePosture(c, bad)

	for _, u := range []struct {
		key string
		set bool
	}{
		{"grpc_output.enabled", c.GRPCOutput.Enabled},
		{"http_output.compress_uploads", h.CompressUploads},
	} {
		if u.set {
			warn(u.key, "not supported by truesight; ignored")
		}
	}
}

// engineKinds are Falco's engine.kind values.
var engineKinds = []string{"modern_ebpf", "kmod", "ebpf", "gvisor", "replay", "nodriver"}

// validateDrops checks the ring buffer's size and syscall_event_drops.
func (d *decoder) validateDrops(c *Config, bad func(key, format string, args ...any)) {
	e := c.Engine
	known := false
	for _, k := range engineKinds {
		known = known || e.Kind == k
	}
	switch {
	case !known:
		bad("engine.kind", "%q is not one of Falco's engine kinds (%s)", e.Kind, strings.Join(engineKinds, ", "))
	case e.Kind != "modern_ebpf":
		d.warnings = append(d.warnings, Warning{Position: d.pos["engine.kind"], Key: "engine.kind",
			Msg: fmt.Sprintf("%s: truesight always uses its own eBPF sensor, sized by engine.modern_ebpf", e.Kind)})
	}
	if p := e.ModernEBPF.BufSizePreset; p < 1 || p >= len(BufSizePresets) {
		bad("engine.modern_ebpf.buf_size_preset", "must be a preset from 1 to %d (1: 1 MiB, 2: 2 MiB, 3: 4 MiB, 4: 8 MiB, 5: 16 MiB, 6: 32 MiB, 7: 64 MiB, 8: 128 MiB, 9: 256 MiB, 10: 512 MiB), got %d",
			len(BufSizePresets)-1, p)
	}
	if n := e.ModernEBPF.CPUsForEachBuffer; n < 0 {
		bad("engine.modern_ebpf.cpus_for_each_buffer", "must be 0 (one buffer for all CPUs) or a number of CPUs, got %d", n)
	}

	s := c.SyscallEventDrops
	if s.Threshold < 0 || s.Threshold > 1 {
		bad("syscall_event_drops.threshold", "must be a share of the records from 0 to 1 (0.1 is 10%%), got %v", s.Threshold)
	}
	if s.Rate <= 0 {
		bad("syscall_event_drops.rate", "must be a positive number of actions per second (0.03333 is one every 30s), got %v", s.Rate)
	}
	if s.MaxBurst < 1 {
		bad("syscall_event_drops.max_burst", "must be 1 or more, got %d", s.MaxBurst)
	}
	seen := map[string]bool{}
	for i, a := range s.Actions {
		key := fmt.Sprintf("syscall_event_drops.actions[%d]", i)
		ok := false
		for _, want := range DropActions {
			ok = ok || strings.EqualFold(a, want)
		}
		if !ok {
			bad(key, "%q is not an action: want %s", a, strings.Join(DropActions, ", "))
			continue
		}
		seen[strings.ToLower(a)] = true
	}
	if seen["ignore"] && len(seen) > 1 {
		bad("syscall_event_drops.actions", "ignore cannot be combined with other actions")
	}
}
