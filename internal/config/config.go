package config

import (
	_ "embed"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Default is the embedded default configuration, documented key by key.
// Load starts from it, so no file is needed.
//
//go:embed truesight.yaml
var Default []byte

// DefaultName is how positions in the embedded default are reported.
const DefaultName = "<default>"

// Config is truesight's configuration. Keys are Falco's falco.yaml keys
// wherever Falco has one; extensions are marked in docs/configuration.md.
type Config struct {
	RulesFiles       []string `yaml:"rules_files"`
	WatchConfigFiles bool     `yaml:"watch_config_files"`
	Priority         string   `yaml:"priority"`
	RuleMatching     string   `yaml:"rule_matching"`

	TimeFormatISO8601               bool           `yaml:"time_format_iso_8601"`
	JSONOutput                      bool           `yaml:"json_output"`
	JSONIncludeOutputProperty       bool           `yaml:"json_include_output_property"`
	JSONIncludeMessageProperty      bool           `yaml:"json_include_message_property"`
	JSONIncludeOutputFieldsProperty bool           `yaml:"json_include_output_fields_property"`
	JSONIncludeTagsProperty         bool           `yaml:"json_include_tags_property"`
	BufferedOutputs                 bool           `yaml:"buffered_outputs"`
	AppendOutput                    []AppendOutput `yaml:"append_output"`
	OutputsQueue                    OutputsQueue   `yaml:"outputs_queue"`
	OutputTimeout                   int            `yaml:"output_timeout"`

	StdoutOutput  StdoutOutput  `yaml:"stdout_output"`
	SyslogOutput  SyslogOutput  `yaml:"syslog_output"`
	FileOutput    FileOutput    `yaml:"file_output"`
	HTTPOutput    HTTPOutput    `yaml:"http_output"`
	ProgramOutput ProgramOutput `yaml:"program_output"`
	GRPCOutput    Enabled       `yaml:"grpc_output"`

	Webserver Webserver `yaml:"webserver"`

	Engine            Engine            `yaml:"engine"`
	SyscallEventDrops SyscallEventDrops `yaml:"syscall_event_drops"`

	LogStderr bool   `yaml:"log_stderr"`
	LogSyslog bool   `yaml:"log_syslog"`
	LogLevel  string `yaml:"log_level"`

	Truesight Truesight `yaml:"truesight"`

	// fromEnv maps the key path of each value read from ${VAR} to its
	// text before expansion, so that Show does not print secrets.
	fromEnv map[string]string
}

// AppendOutput adds text and fields to the output of matching rules
// (Falco's append_output).
type AppendOutput struct {
	Match       AppendMatch  `yaml:"match"`
	ExtraOutput string       `yaml:"extra_output"`
	ExtraFields []ExtraField `yaml:"extra_fields"`
}

// AppendMatch selects the rules an AppendOutput applies to; empty members
// match everything.
type AppendMatch struct {
	Source string   `yaml:"source"`
	Tags   []string `yaml:"tags"`
	Rule   string   `yaml:"rule"`
}

// ExtraField is one item of extra_fields: either a field name such as
// evt.hostname (Value empty), or a name with a constant value or a format.
type ExtraField struct {
	Name  string
	Value string
}

// MarshalYAML writes the field back in the form it was read.
func (f ExtraField) MarshalYAML() (any, error) {
	if f.Value == "" {
		return f.Name, nil
	}
	return map[string]string{f.Name: f.Value}, nil
}

// OutputsQueue is Falco's outputs_queue.
type OutputsQueue struct {
	// Capacity is the length of each output's queue; 0 means the default
	// (10000). Falco's 0 means unbounded; truesight's queues are always
	// bounded so that a dead receiver cannot exhaust memory.
	Capacity int `yaml:"capacity"`
}

// Enabled is an output block with only an enabled flag.
type Enabled struct {
	Enabled bool `yaml:"enabled"`
}

// StdoutOutput is stdout_output.
type StdoutOutput struct {
	Enabled bool `yaml:"enabled"`
	// Colour is auto, always or never (extension).
	Colour string `yaml:"colour"`
}

// SyslogOutput is syslog_output.
type SyslogOutput struct {
	Enabled bool `yaml:"enabled"`
	// Address, Facility and AppName are extensions.
	Address  string `yaml:"address"`
	Facility string `yaml:"facility"`
	AppName  string `yaml:"app_name"`
}

// FileOutput is file_output.
type FileOutput struct {
	Enabled   bool   `yaml:"enabled"`
	KeepAlive bool   `yaml:"keep_alive"`
	Filename  string `yaml:"filename"`
}

// HTTPOutput is http_output.
type HTTPOutput struct {
	Enabled                bool              `yaml:"enabled"`
	URL                    string            `yaml:"url"`
	UserAgent              string            `yaml:"user_agent"`
	Insecure               bool              `yaml:"insecure"`
	CACert                 string            `yaml:"ca_cert"`
	CABundle               string            `yaml:"ca_bundle"`
	CAPath                 string            `yaml:"ca_path"`
	MTLS                   bool              `yaml:"mtls"`
	ClientCert             string            `yaml:"client_cert"`
	ClientKey              string            `yaml:"client_key"`
	Echo                   bool              `yaml:"echo"`
	CompressUploads        bool              `yaml:"compress_uploads"`
	KeepAlive              bool              `yaml:"keep_alive"`
	MaxConsecutiveTimeouts int               `yaml:"max_consecutive_timeouts"`
	CustomHeaders          map[string]string `yaml:"custom_headers"`
	MaxRetries             int               `yaml:"max_retries"`
	RetryMaxBackoff        Duration          `yaml:"retry_max_backoff"`
}

// ProgramOutput is program_output.
type ProgramOutput struct {
	Enabled   bool   `yaml:"enabled"`
	KeepAlive bool   `yaml:"keep_alive"`
	Program   string `yaml:"program"`
}

// Webserver is webserver: the health, version and metrics endpoints.
type Webserver struct {
	Enabled                  bool   `yaml:"enabled"`
	Threadiness              int    `yaml:"threadiness"`
	ListenAddress            string `yaml:"listen_address"`
	ListenPort               int    `yaml:"listen_port"`
	K8sHealthzEndpoint       string `yaml:"k8s_healthz_endpoint"`
	PrometheusMetricsEnabled bool   `yaml:"prometheus_metrics_enabled"`
	SSLEnabled               bool   `yaml:"ssl_enabled"`
	SSLCertificate           string `yaml:"ssl_certificate"`
}

// Address is the webserver's host:port.
func (w Webserver) Address() string {
	return net.JoinHostPort(w.ListenAddress, strconv.Itoa(w.ListenPort))
}

// Engine is Falco's engine block. truesight always runs its own eBPF
// sensor; of Falco's engines, modern_ebpf's buffer keys apply to it.
type Engine struct {
	// Kind is Falco's driver name; any of Falco's kinds loads, and
	// truesight runs its own sensor whatever it says.
	Kind       string     `yaml:"kind"`
	ModernEBPF ModernEBPF `yaml:"modern_ebpf"`
}

// ModernEBPF is engine.modern_ebpf: the size of the kernel's ring buffer.
type ModernEBPF struct {
	// CPUsForEachBuffer is how many CPUs share one buffer in Falco; 0
	// means one buffer for all CPUs. truesight has one ring buffer shared by
	// every CPU and sizes it to what Falco's buffers would hold together.
	CPUsForEachBuffer int `yaml:"cpus_for_each_buffer"`
	// BufSizePreset picks one buffer's size from Falco's table
	// (BufSizePresets).
	BufSizePreset int `yaml:"buf_size_preset"`
}

// BufSizePresets are Falco's buffer sizes by engine.*.buf_size_preset, in
// bytes. Preset 0 is reserved by Falco and has no size.
var BufSizePresets = [...]int{0, 1 << 20, 2 << 20, 4 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20, 128 << 20, 256 << 20, 512 << 20}

// maxRingBuffer bounds the ring buffer truesight allocates (the kernel's
// limit for a BPF ring buffer is below 4 GiB; memory is the real limit).
const maxRingBuffer = 1 << 30

// RingBufferSize is the size in bytes of the sensor's ring buffer on a host
// with cpus online CPUs: the preset's size times the number of buffers
// Falco would allocate (one per cpus_for_each_buffer CPUs, a single one
// when it is 0 or not less than cpus), rounded up to a power of two and at
// most 1 GiB.
func (c *Config) RingBufferSize(cpus int) int {
	m := c.Engine.ModernEBPF
	size := BufSizePresets[m.BufSizePreset]
	buffers := 1
	if n := m.CPUsForEachBuffer; n > 0 && n < cpus {
		buffers = (cpus + n - 1) / n
	}
	total := size * buffers
	p := 1
	for p < total {
		p <<= 1
	}
	return min(p, maxRingBuffer)
}

// SyscallEventDrops is Falco's syscall_event_drops: what to do when the
// kernel drops events because the ring buffer was full.
type SyscallEventDrops struct {
	// Threshold is the share of records lost in one second (0 to 1) above
	// which the actions run.
	Threshold float64 `yaml:"threshold"`
	// Actions are ignore, log, alert and exit; an empty list means ignore.
	Actions []string `yaml:"actions"`
	// Rate and MaxBurst are a token bucket that limits how often the log
	// and alert actions run: Rate tokens a second, at most MaxBurst saved.
	Rate     float64 `yaml:"rate"`
	MaxBurst int     `yaml:"max_burst"`
}

// DropActions are the syscall_event_drops actions.
var DropActions = []string{"ignore", "log", "alert", "exit"}

// HasDropAction reports whether action (log, alert or exit) is configured.
func (c *Config) HasDropAction(action string) bool {
	for _, a := range c.SyscallEventDrops.Actions {
		if strings.EqualFold(a, action) {
			return true
		}
	}
	return false
}

// Truesight holds settings Falco has no key for.
type Truesight struct {
	// LogFormat is text or json.
	LogFormat string `yaml:"log_format"`
	// LossReportInterval is how often lost alerts are reported.
	LossReportInterval Duration `yaml:"loss_report_interval"`
	// ShutdownTimeout bounds the flush of queued alerts at exit.
	ShutdownTimeout Duration  `yaml:"shutdown_timeout"`
	RateLimit       RateLimit `yaml:"rate_limit"`
	// ScanInterval is how often `truesight run` scans for hidden
	// processes and preload injection; 0 disables the periodic scan.
	ScanInterval Duration `yaml:"scan_interval"`
	// Containers says where the container runtimes are.
	Containers Containers `yaml:"containers"`
	// Snaplen is how many bytes of each read, write, send and receive the
	// sensor copies for evt.buffer (Falco's -s), when a rule reads them.
	Snaplen int `yaml:"snaplen"`
	// Console is the local web console (console.go).
	Console Console `yaml:"console"`
	// FIM is file integrity monitoring (fim.go).
	FIM FIM `yaml:"fim"`
	// Enforce protects the loader's configuration from writes (enforce.go).
	Enforce Enforce `yaml:"enforce"`
	// Posture checks the running containers' mitigations (posture.go).
	Posture Posture `yaml:"posture"`
}

// Containers locates the container runtimes' sockets.
type Containers struct {
	// HostRoot prefixes every socket path and /proc (a DaemonSet that
	// mounts the node's / at /host sets /host).
	HostRoot string `yaml:"host_root"`
	// The sockets of each API, tried in order; an empty list turns that
	// runtime off.
	DockerSockets     []string `yaml:"docker_sockets"`
	ContainerdSockets []string `yaml:"containerd_sockets"`
	CRISockets        []string `yaml:"cri_sockets"`
	// Timeout bounds the wait for one answer from a runtime.
	Timeout Duration `yaml:"timeout"`
}

// RateLimit suppresses identical alerts.
type RateLimit struct {
	Enabled bool `yaml:"enabled"`
	// Window is the period within which identical alerts count together.
	Window Duration `yaml:"window"`
	// Max is how many identical alerts pass per window.
	Max int `yaml:"max"`
}

// Duration is a time.Duration written as Go writes one: 10s, 1m30s, 500ms.
type Duration time.Duration

// MarshalYAML writes the duration as a string such as 10s.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Show renders the configuration as YAML, keys in the order of the default
// file. Values that came from environment variables are shown
// as the ${VAR} reference, not the secret.
func (c *Config) Show() string {
	var n yaml.Node
	if err := n.Encode(c); err != nil {
		// Every field type of Config encodes.
		panic("config: encode: " + err.Error())
	}
	for path, raw := range c.fromEnv {
		if v := lookupNode(&n, path); v != nil {
			v.Value, v.Style = raw, yaml.DoubleQuotedStyle
		}
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		panic("config: encode: " + err.Error())
	}
	_ = enc.Close()
	return b.String()
}

// lookupNode finds the value node at a key path such as a.b[2].c.
func lookupNode(n *yaml.Node, path string) *yaml.Node {
	segs, err := parsePath(path)
	if err != nil {
		return nil
	}
	for _, s := range segs {
		switch {
		case s.index < 0 && n.Kind == yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == s.key {
					next = n.Content[i+1]
				}
			}
			if next == nil {
				return nil
			}
			n = next
		case s.index >= 0 && n.Kind == yaml.SequenceNode && s.index < len(n.Content):
			n = n.Content[s.index]
		default:
			return nil
		}
	}
	return n
}

// Position locates a value: a file with line and column, or a -o override
// (File is then "-o key=value" and Line is 0).
type Position struct {
	File         string
	Line, Column int
}

func (p Position) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Column == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Warning is a problem that does not stop truesight: an unknown key, a
// Falco key truesight ignores.
type Warning struct {
	Position
	Key string // key path, such as http_output.enabled
	Msg string
}

func (w Warning) String() string {
	return fmt.Sprintf("%s: warning: %s", w.Position, keyed(w.Key, w.Msg))
}

// Error is a configuration mistake: a value of the wrong type, an unknown
// priority, an enabled output without its address.
type Error struct {
	Position
	Key string
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Position, keyed(e.Key, e.Msg)) }

func keyed(key, msg string) string {
	if key == "" {
		return msg
	}
	return key + ": " + msg
}

// Errors are all the errors found in a configuration, in file order.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads the embedded default, then the file at path (unless path is
// empty), then applies the -o key=value overrides in order. ${VAR} in any
// value is replaced by the environment variable VAR ($${ writes a literal
// ${). Unknown keys are warnings; a wrong type or an invalid value is an
// error that names the key and its line.
func Load(path string, overrides []string) (*Config, []Warning, error) {
	var data []byte
	if path != "" {
		var err error
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("read configuration: %w", err)
		}
	}
	return load(path, data, overrides, os.LookupEnv)
}

func load(name string, data []byte, overrides []string, env func(string) (string, bool)) (*Config, []Warning, error) {
	c := &Config{}
	d := newDecoder(env)
	def, err := parseYAML(DefaultName, Default)
	if err != nil {
		panic("config: embedded default: " + err.Error())
	}
	d.decodeDocument(DefaultName, def, c)
	if len(d.errs) > 0 {
		panic("config: embedded default: " + d.errs.Error())
	}
	d.warnings = nil // the default is the reference: nothing to warn about

	var user *yaml.Node
	if name != "" {
		user, err = parseYAML(name, data)
		if err != nil {
			return nil, nil, err
		}
	}
	if len(overrides) > 0 {
		if user == nil {
			user = &yaml.Node{Kind: yaml.MappingNode}
		}
		for _, o := range overrides {
			if err := d.override(user, o); err != nil {
				d.errs = append(d.errs, err)
			}
		}
	}
	if user != nil {
		d.decodeDocument(name, user, c)
	}
	d.validate(c)
	if len(d.errs) > 0 {
		return nil, d.warnings, d.errs
	}
	c.fromEnv = d.fromEnv
	return c, d.warnings, nil
}
