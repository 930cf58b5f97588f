package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/rules"
)

// env is a fixed environment for tests.
func env(name string) (string, bool) {
	v, ok := map[string]string{"SIDEKICK_TOKEN": "s3cret", "PORT": "9100", "EMPTY": ""}[name]
	return v, ok
}

func loadString(t *testing.T, yml string, overrides ...string) (*Config, []Warning, error) {
	t.Helper()
	return load("falco.yaml", []byte(yml), overrides, env)
}

// mustLoad loads a configuration that must load with exactly the given
// warnings.
func mustLoad(t *testing.T, yml string, overrides []string, warnings ...string) *Config {
	t.Helper()
	c, w, err := loadString(t, yml, overrides...)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	var got []string
	for _, x := range w {
		got = append(got, x.String())
	}
	if strings.Join(got, "\n") != strings.Join(warnings, "\n") {
		t.Fatalf("warnings:\n got %q\nwant %q", got, warnings)
	}
	return c
}

func TestDefaultNeedsNoFile(t *testing.T) {
	c, w, err := Load("", nil)
	if err != nil || len(w) > 0 {
		t.Fatalf("err %v, warnings %v", err, w)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"rules_files", len(c.RulesFiles), 0},
		{"priority", c.MinPriority(), rules.PriorityDebug},
		{"rule_matching", c.AllMatching(), false},
		{"json_output", c.JSONOutput, false},
		{"json_include_output_property", c.JSONIncludeOutputProperty, true},
		{"json_include_tags_property", c.JSONIncludeTagsProperty, true},
		{"json_include_output_fields_property", c.JSONIncludeOutputFieldsProperty, true},
		{"stdout_output.enabled", c.StdoutOutput.Enabled, true},
		{"syslog_output.enabled", c.SyslogOutput.Enabled, false},
		{"http_output.keep_alive", c.HTTPOutput.KeepAlive, true},
		{"http_output.max_retries", c.HTTPOutput.MaxRetries, -1},
		{"webserver address", c.Webserver.Address(), "127.0.0.1:8765"},
		{"webserver.prometheus_metrics_enabled", c.Webserver.PrometheusMetricsEnabled, true},
		{"output_timeout", c.OutputTimeout, 2000},
		{"loss_report_interval", time.Duration(c.Truesight.LossReportInterval), 10 * time.Second},
		{"shutdown timeout", c.ShutdownTimeout(), 5 * time.Second},
		{"log_level", c.LogLevel, "info"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadReadsFalcoYAML(t *testing.T) {
	c := mustLoad(t, `
rules_files:
  - /etc/falco/falco_rules.yaml
  - /etc/falco/rules.d
priority: warning
rule_matching: all
json_output: true
json_include_output_property: false
json_include_tags_property: no
time_format_iso_8601: true
outputs_queue:
  capacity: 500
file_output:
  enabled: true
  keep_alive: false
  filename: /var/log/falco/events.txt
http_output:
  enabled: true
  url: "http://falcosidekick:2801/"
  user_agent: "falcosecurity/falco"
  mtls: true
  client_cert: /etc/ssl/client.crt
  client_key: /etc/ssl/client.key
  custom_headers:
    Authorization: "Bearer ${SIDEKICK_TOKEN}"
program_output:
  enabled: true
  keep_alive: true
  program: "jq '{text: .output}' | curl -d @- -X POST https://hooks.slack.com/services/XXX"
append_output:
  - match:
      source: syscall
      tags: [container]
    extra_output: "on CPU %evt.cpu"
    extra_fields:
      - evt.hostname
      - home: "/root"
webserver:
  listen_port: ${PORT}
  listen_address: 0.0.0.0
`, nil)
	checks := []struct {
		name      string
		got, want any
	}{
		{"rules_files", strings.Join(c.RulesFiles, ","), "/etc/falco/falco_rules.yaml,/etc/falco/rules.d"},
		{"priority", c.MinPriority(), rules.PriorityWarning},
		{"rule_matching", c.AllMatching(), true},
		{"encoding json", c.Encoding().JSON, true},
		{"omit output", c.Encoding().Options.OmitOutput, true},
		{"omit tags", c.Encoding().Options.OmitTags, true},
		{"omit output fields", c.Encoding().Options.OmitOutputFields, false},
		{"iso 8601", c.Encoding().Options.Text.ISO8601, true},
		{"capacity", c.OutputsQueue.Capacity, 500},
		{"file", c.FileOutput.Filename, "/var/log/falco/events.txt"},
		{"url", c.HTTPOutput.URL, "http://falcosidekick:2801/"},
		{"header from env", c.HTTPOutput.CustomHeaders["Authorization"], "Bearer s3cret"},
		{"mtls", c.HTTPOutput.MTLS, true},
		{"program", c.ProgramOutput.Program, "jq '{text: .output}' | curl -d @- -X POST https://hooks.slack.com/services/XXX"},
		{"append source", c.AppendOutput[0].Match.Source, "syscall"},
		{"append tags", strings.Join(c.AppendOutput[0].Match.Tags, ","), "container"},
		{"extra output", c.AppendOutput[0].ExtraOutput, "on CPU %evt.cpu"},
		{"extra field 0", c.AppendOutput[0].ExtraFields[0], ExtraField{Name: "evt.hostname"}},
		{"extra field 1", c.AppendOutput[0].ExtraFields[1], ExtraField{Name: "home", Value: "/root"}},
		{"webserver", c.Webserver.Address(), "0.0.0.0:9100"},
		// Keys the file does not set keep their default.
		{"stdout default", c.StdoutOutput.Enabled, true},
		{"log_level default", c.LogLevel, "info"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadErrorsNameTheKeyAndLine(t *testing.T) {
	cases := []struct {
		name, yml string
		overrides []string
		want      string
	}{
		{"bool", "json_output: maybe\n", nil,
			`falco.yaml:1:14: json_output: want a boolean (true or false), got "maybe"`},
		{"integer", "webserver:\n  listen_port: http\n", nil,
			`falco.yaml:2:16: webserver.listen_port: want an integer, got "http"`},
		{"float for integer", "outputs_queue:\n  capacity: 1.5\n", nil,
			`falco.yaml:2:13: outputs_queue.capacity: want an integer, got "1.5"`},
		{"mapping for string", "priority:\n  level: debug\n", nil,
			`falco.yaml:2:3: priority: want a string, got a mapping`},
		{"list for block", "http_output: [a]\n", nil,
			`falco.yaml:1:14: http_output: want a mapping of keys to values, got a list`},
		{"mapping for list", "rules_files: {a: b}\n", nil,
			`falco.yaml:1:14: rules_files: want a list, got a mapping`},
		{"list item", "rules_files:\n  - a.yaml\n  - [b.yaml]\n", nil,
			`falco.yaml:3:5: rules_files[1]: want a string, got a list`},
		{"header value", "http_output:\n  custom_headers:\n    X-A: [1]\n", nil,
			`falco.yaml:3:10: http_output.custom_headers.X-A: want a string, got a list`},
		{"duration", "truesight:\n  loss_report_interval: 10\n", nil,
			`falco.yaml:2:25: truesight.loss_report_interval: want a duration such as 10s or 500ms, got "10"`},
		{"unknown priority", "priority: severe\n", nil,
			`falco.yaml:1:11: priority: "severe" is not a priority (emergency, alert, critical, error, warning, notice, informational, debug)`},
		{"rule matching", "rule_matching: most\n", nil,
			`falco.yaml:1:16: rule_matching: "most" is not one of first, all`},
		{"http without url", "http_output:\n  enabled: true\n", nil,
			`falco.yaml:2:12: http_output.enabled: HTTP output enabled without http_output.url`},
		{"http bad url", "http_output:\n  enabled: true\n  url: falcosidekick:2801\n", nil,
			`falco.yaml:3:8: http_output.url: "falcosidekick:2801" is not an http:// or https:// URL with a host`},
		{"mtls without key", "http_output:\n  enabled: true\n  url: https://x/\n  mtls: true\n  client_cert: c.pem\n", nil,
			`falco.yaml:4:9: http_output.mtls: mutual TLS needs http_output.client_cert and http_output.client_key`},
		{"file without name", "file_output:\n  enabled: true\n  filename: \"\"\n", nil,
			`falco.yaml:2:12: file_output.enabled: file output enabled without file_output.filename`},
		{"program without program", "program_output:\n  enabled: true\n", nil,
			`falco.yaml:2:12: program_output.enabled: program output enabled without program_output.program`},
		{"syslog address", "syslog_output:\n  address: tls://x:6514\n", nil,
			`falco.yaml:2:12: syslog_output.address: syslog address "tls://x:6514": scheme must be unix, udp or tcp`},
		{"syslog facility", "syslog_output:\n  facility: local9\n", nil,
			`falco.yaml:2:13: syslog_output.facility: "local9" is not a syslog facility (user, daemon, auth, local0 ... local7, ...)`},
		{"negative scan interval", "truesight:\n  scan_interval: -1s\n", nil,
			`falco.yaml:2:18: truesight.scan_interval: want a duration of 0s or more, got "-1s"`},
		{"zero runtime timeout", "truesight:\n  containers:\n    timeout: 0s\n", nil,
			`falco.yaml:3:14: truesight.containers.timeout: must be positive`},
		{"relative host root", "truesight:\n  containers:\n    host_root: host\n", nil,
			`falco.yaml:3:16: truesight.containers.host_root: "host" is not an absolute path: give the directory where the node's / is mounted, e.g. /host`},
		{"port range", "webserver:\n  listen_port: 70000\n", nil,
			`falco.yaml:2:16: webserver.listen_port: must be a port number from 1 to 65535, got 70000`},
		{"content type header", "http_output:\n  custom_headers:\n    content-type: text/plain\n", nil,
			`falco.yaml:3:19: http_output.custom_headers.content-type: Content-Type is always application/json`},
		{"unset env", "http_output:\n  url: ${NOPE}\n", nil,
			`falco.yaml:2:8: http_output.url: environment variable NOPE is not set`},
		{"unclosed env", "http_output:\n  url: ${NOPE\n", nil,
			`falco.yaml:2:8: http_output.url: unclosed ${ in "${NOPE" (write $${ for a literal ${)`},
		{"bad env name", "http_output:\n  url: ${1X}\n", nil,
			`falco.yaml:2:8: http_output.url: ${1X}: not an environment variable name`},
		{"not a mapping", "- json_output\n", nil,
			`falco.yaml:1:1: a configuration file is a mapping of keys to values, such as json_output: true`},
		{"yaml syntax", "json_output: true\n  bad: [\n", nil,
			`falco.yaml:2: not valid YAML: mapping values are not allowed in this context`},
		{"every error at once", "json_output: maybe\npriority: severe\n", nil,
			"falco.yaml:1:14: json_output: want a boolean (true or false), got \"maybe\"\n" +
				`falco.yaml:2:11: priority: "severe" is not a priority (emergency, alert, critical, error, warning, notice, informational, debug)`},

		{"override without =", "", []string{"json_output"},
			`-o json_output: want key=value, such as -o json_output=true`},
		{"override bad value", "json_output: true\n", []string{"json_output=maybe"},
			`-o json_output=maybe: json_output: want a boolean (true or false), got "maybe"`},
		{"override empty key", "", []string{"http_output..url=x"},
			`-o http_output..url=x: key "http_output..url": empty key name`},
		{"override bad index", "", []string{"rules_files[x]=a"},
			`-o rules_files[x]=a: key "rules_files[x]": bad list index "x" in "rules_files[x]"`},
		{"override index past end", "rules_files: [a]\n", []string{"rules_files[2]=c"},
			`-o rules_files[2]=c: index 2 is past the end of the list (1 items)`},
		{"override bad flow", "", []string{"rules_files=[a, b"},
			`-o rules_files=[a, b: value "[a, b" is not a valid YAML list or mapping`},
		{"override invalid value", "", []string{"priority=loud"},
			`-o priority=loud: priority: "loud" is not a priority (emergency, alert, critical, error, warning, notice, informational, debug)`},
		{"override type into block", "", []string{"webserver=on"},
			`-o webserver=on: webserver: want a mapping of keys to values, got "on"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, err := loadString(t, c.yml, c.overrides...)
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			if cfg != nil {
				t.Error("a config was returned with the error")
			}
			if err.Error() != c.want {
				t.Errorf("error:\n got %s\nwant %s", err, c.want)
			}
		})
	}
}

func TestLoadWarnsAndCarriesOn(t *testing.T) {
	cases := []struct {
		name, yml string
		overrides []string
		want      []string
	}{
		{"unknown key with a suggestion", "json_outptu: true\n", nil,
			[]string{"falco.yaml:1:1: warning: json_outptu: unknown key, ignored; did you mean json_output?"}},
		{"unknown nested key", "http_output:\n  urll: http://x/\n", nil,
			[]string{"falco.yaml:2:3: warning: http_output.urll: unknown key, ignored; did you mean http_output.url?"}},
		{"unknown key without a suggestion", "frobnicate: 3\n", nil,
			[]string{"falco.yaml:1:1: warning: frobnicate: unknown key, ignored"}},
		{"Falco key with no effect", "load_plugins: [k8saudit]\n", nil,
			[]string{"falco.yaml:1:1: warning: load_plugins: Falco key with no effect in truesight: truesight has no plugins"}},
		{"old name", "rules_file: [a.yaml]\n", nil,
			[]string{"falco.yaml:1:1: warning: rules_file: old name of rules_files; use rules_files"}},
		{"repeated key", "priority: debug\npriority: error\n", nil,
			[]string{"falco.yaml:2:1: warning: priority: set again (first set at line 1); the last value wins"}},
		{"unsupported", "grpc_output:\n  enabled: true\nhttp_output:\n  compress_uploads: true\n", nil, []string{
			"falco.yaml:2:12: warning: grpc_output.enabled: not supported by truesight; ignored",
			"falco.yaml:4:21: warning: http_output.compress_uploads: not supported by truesight; ignored",
		}},
		{"unknown key from -o", "", []string{"http_output.ulr=x"},
			[]string{"-o http_output.ulr=x: warning: http_output.ulr: unknown key, ignored; did you mean http_output.url?"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, w, err := loadString(t, c.yml, c.overrides...)
			if err != nil || cfg == nil {
				t.Fatalf("error %v", err)
			}
			var got []string
			for _, x := range w {
				got = append(got, x.String())
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("warnings:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestOverridesFollowFalcoSyntax(t *testing.T) {
	c := mustLoad(t, "rules_files: [a.yaml, b.yaml]\nhttp_output:\n  url: http://old/\n", []string{
		"json_output=true",
		"http_output.enabled=true",
		"http_output.url=http://falcosidekick:2801/",
		"http_output.custom_headers.X-Token=${SIDEKICK_TOKEN}",
		"rules_files[1]=c.yaml",
		"rules_files[2]=d.yaml",
		"append_output[0].match.source=syscall",
		"append_output[0].extra_fields=[evt.hostname, {home: /root}]",
		"webserver.listen_port=9000",
		"truesight.rate_limit={enabled: true, window: 30s, max: 2}",
	})
	checks := []struct {
		name      string
		got, want any
	}{
		{"json_output", c.JSONOutput, true},
		{"http enabled", c.HTTPOutput.Enabled, true},
		{"url replaced", c.HTTPOutput.URL, "http://falcosidekick:2801/"},
		{"header", c.HTTPOutput.CustomHeaders, map[string]string{"X-Token": "s3cret"}},
		{"rules files", c.RulesFiles, []string{"a.yaml", "c.yaml", "d.yaml"}},
		{"append source", c.AppendOutput[0].Match.Source, "syscall"},
		{"extra fields", c.AppendOutput[0].ExtraFields, []ExtraField{{Name: "evt.hostname"}, {Name: "home", Value: "/root"}}},
		{"port", c.Webserver.ListenPort, 9000},
		{"rate limit", c.Truesight.RateLimit, RateLimit{Enabled: true, Window: Duration(30 * time.Second), Max: 2}},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	// A whole list at once, and overrides without a file.
	c2, _, err := load("", nil, []string{"rules_files=[x.yaml, y.yaml]", "rules_files[2]=z.yaml"}, env)
	if err != nil || !reflect.DeepEqual(c2.RulesFiles, []string{"x.yaml", "y.yaml", "z.yaml"}) {
		t.Errorf("rules_files %v, err %v", c2.RulesFiles, err)
	}
}

func TestEnvironmentReferences(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{"Bearer ${SIDEKICK_TOKEN}", "Bearer s3cret"},
		{"${PORT}${PORT}", "91009100"},
		{"a$${PORT}b", "a${PORT}b"},
		{"cost $5", "cost $5"},
		{"[${EMPTY}]", "[]"},
	}
	for _, c := range cases {
		got, err := expandEnv(c.in, env)
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestShowPrintsTheEffectiveConfigWithoutSecrets(t *testing.T) {
	c := mustLoad(t, "http_output:\n  custom_headers:\n    Authorization: Bearer ${SIDEKICK_TOKEN}\n", []string{"json_output=true"})
	out := c.Show()
	for _, want := range []string{
		"json_output: true\n",
		"  custom_headers:\n    Authorization: \"Bearer ${SIDEKICK_TOKEN}\"\n",
		"webserver:\n  enabled: true\n",
		"  loss_report_interval: 10s\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Error("show printed the secret")
	}
	// What Show prints loads back to the same configuration.
	again, w, err := load("shown.yaml", []byte(out), nil, env)
	if err != nil || len(w) > 0 {
		t.Fatalf("reload: %v %v", err, w)
	}
	again.fromEnv, c.fromEnv = nil, nil
	if !reflect.DeepEqual(again, c) {
		t.Errorf("reloaded config differs:\n%+v\n%+v", again, c)
	}
}

func TestLoadReadsAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "truesight.yaml")
	if err := os.WriteFile(path, []byte("json_output: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(path, nil)
	if err == nil || !strings.HasPrefix(err.Error(), path+":1: not valid YAML: did not find expected node content") {
		t.Errorf("error %v", err)
	}
	if _, _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil {
		t.Error("no error for a missing file")
	}
}

// keyPaths lists every key of the configuration, such as
// http_output.custom_headers, from the Config type.
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	fields, names := fieldsOf(t)
	for _, name := range names {
		ft := t.Field(fields[name]).Type
		path := join(prefix, name)
		out = append(out, path)
		switch {
		case ft.Kind() == reflect.Struct && ft != durationType:
			out = append(out, keyPaths(ft, path)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && ft.Elem() != extraFieldType:
			out = append(out, keyPaths(ft.Elem(), path+"[]")...)
		}
	}
	return out
}

func TestEveryKeyIsInTheDefaultFileAndDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	def := string(Default)
	for _, path := range keyPaths(reflect.TypeFor[Config](), "") {
		if !strings.Contains(string(doc), "`"+path+"`") {
			t.Errorf("docs/configuration.md does not document `%s`", path)
		}
		last := path[strings.LastIndexAny(path, ".]")+1:]
		if !strings.Contains(path, "[]") && !regexp.MustCompile(`(?m)^\s*`+regexp.QuoteMeta(last)+`:`).MatchString(def) {
			t.Errorf("the default file does not set %s", path)
		}
	}
}
