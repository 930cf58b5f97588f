package output

import (
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/state"
)

func ctx() *fields.Ctx {
	bash := &state.Process{Pid: 10}
	bash.SetComm("bash")
	sh := &state.Process{Pid: 11, PPid: 10, Parent: bash, UID: 0, LoginUID: 1000}
	sh.SetComm("sh")
	sh.SetArgs("sh", []string{"-c", "true"})
	e := &event.Event{Num: 1, Time: 1_470_327_477_881_781_397, Type: event.MustType("openat"), Res: 3, HasRes: true}
	e.AddParam("flags", "O_WRONLY|O_CREAT", 0o101)
	e.FD = &event.FD{Num: 3, Type: event.FDFile, Name: "/etc/ld.so.preload"}
	return &fields.Ctx{Evt: e, Proc: sh, Hostname: "node1"}
}

func TestFormatRendersFieldsArgumentsWidthsAndMissing(t *testing.T) {
	cases := []struct{ format, want string }{
		{"file=%fd.name user=%user.name", "file=/etc/ld.so.preload user=root"},
		{"%proc.aname[1] > %proc.name", "bash > sh"},
		{"gp=%proc.aname[2]", "gp=<NA>"},
		{"flags=%evt.arg.flags", "flags=O_WRONLY|O_CREAT"},
		{"flags=%evt.arg[flags]", "flags=O_WRONLY|O_CREAT"},
		{"[%10proc.name]", "[sh        ]"},
		{"100%% sure %proc.name", "100% sure sh"},
		{"trailing dot %proc.name.", "trailing dot sh."},
		{"(%(proc.name))", "(sh)"},
		{"cmd=%proc.cmdline login=%user.loginuid", "cmd=sh -c true login=1000"},
		{"no fields here", "no fields here"},
	}
	for _, c := range cases {
		f, err := Compile(c.format)
		if err != nil {
			t.Errorf("%q: %v", c.format, err)
			continue
		}
		if got := f.String(ctx()); got != c.want {
			t.Errorf("%q: got %q, want %q", c.format, got, c.want)
		}
	}
}

func TestFormatRejectsUnknownFields(t *testing.T) {
	_, err := Compile("x=%proc.nosuch y")
	if err == nil || err.Error() != `output column 4: unknown field "proc.nosuch"` {
		t.Fatalf("got %v", err)
	}
}

func TestAlertTextAndJSONFollowFalco(t *testing.T) {
	f, err := Compile("file=%fd.name gp=%proc.aname[2] uid=%user.uid")
	if err != nil {
		t.Fatal(err)
	}
	c := ctx()
	a := &Alert{Time: c.Evt.Time, Rule: "Modify ld.so.preload", Priority: "Warning", Source: "syscall",
		Tags: []string{"mitre_persistence", "filesystem"}, Hostname: "node1",
		Message: f.String(c), Fields: f.Values(c)}
	utc := TextOptions{Location: time.UTC}
	if got, want := a.Text(utc), "16:17:57.881781397: Warning file=/etc/ld.so.preload gp=<NA> uid=0"; got != want {
		t.Errorf("text: got %q, want %q", got, want)
	}
	if got, want := a.Text(TextOptions{ISO8601: true, Location: time.UTC}), "2016-08-04T16:17:57.881781397+0000: Warning file=/etc/ld.so.preload gp=<NA> uid=0"; got != want {
		t.Errorf("iso text: got %q, want %q", got, want)
	}
	want := `{"hostname":"node1","output":"16:17:57.881781397: Warning file=/etc/ld.so.preload gp=<NA> uid=0","output_fields":{"fd.name":"/etc/ld.so.preload","proc.aname[2]":null,"user.uid":0},"priority":"Warning","rule":"Modify ld.so.preload","source":"syscall","tags":["filesystem","mitre_persistence"],"time":"2016-08-04T16:17:57.881781397Z"}`
	if got := string(a.JSON(JSONOptions{Text: utc})); got != want {
		t.Errorf("json:\n got %s\nwant %s", got, want)
	}
	want = `{"hostname":"node1","priority":"Warning","rule":"Modify ld.so.preload","source":"syscall","time":"2016-08-04T16:17:57.881781397Z"}`
	if got := string(a.JSON(JSONOptions{OmitOutput: true, OmitTags: true, OmitOutputFields: true})); got != want {
		t.Errorf("minimal json:\n got %s\nwant %s", got, want)
	}
	want = `{"hostname":"node1","message":"file=/etc/ld.so.preload gp=<NA> uid=0","priority":"Warning","rule":"Modify ld.so.preload","source":"syscall","time":"2016-08-04T16:17:57.881781397Z"}`
	if got := string(a.JSON(JSONOptions{OmitOutput: true, OmitTags: true, OmitOutputFields: true, IncludeMessage: true})); got != want {
		t.Errorf("json with message:\n got %s\nwant %s", got, want)
	}
}
