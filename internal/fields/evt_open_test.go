package fields

import (
	"syscall"
	"testing"

	"github.com/truesightsec/truesight/internal/event"
)

// evt.is_open_exec is libsinsp's: an open that may create the file
// (O_CREAT or O_TMPFILE) asking for a mode with an execute bit, or a creat
// with such a mode; never open_by_handle_at, which takes no mode.
func TestIsOpenExecMeansCreatingAnExecutable(t *testing.T) {
	const (
		wrCreat = syscall.O_WRONLY | syscall.O_CREAT | syscall.O_TRUNC
		tmpfile = syscall.O_RDWR | oTmpfile
	)
	type params struct {
		flags, mode int64
		noFlags     bool
		noMode      bool
	}
	for _, tc := range []struct {
		name  string
		typ   string
		p     params
		fd    *event.FD
		want  string
		wantC string // evt.is_open_create, for contrast
	}{
		{name: "openat O_CREAT 0755", typ: "openat", p: params{flags: wrCreat, mode: 0o755}, want: "true", wantC: "true"},
		{name: "openat O_CREAT 0700", typ: "openat", p: params{flags: wrCreat, mode: 0o700}, want: "true", wantC: "true"},
		{name: "openat O_CREAT 0001 (others may execute)", typ: "openat", p: params{flags: wrCreat, mode: 0o001}, want: "true", wantC: "true"},
		{name: "openat O_CREAT 0644", typ: "openat", p: params{flags: wrCreat, mode: 0o644}, want: "false", wantC: "true"},
		{name: "openat O_CREAT 4644 (setuid is no execute bit)", typ: "openat", p: params{flags: wrCreat, mode: 0o4644}, want: "false", wantC: "true"},
		{name: "openat without O_CREAT ignores the mode", typ: "openat", p: params{flags: syscall.O_RDWR, mode: 0o755}, want: "false", wantC: "false"},
		{name: "open O_CREAT 0777", typ: "open", p: params{flags: wrCreat, mode: 0o777}, want: "true", wantC: "true"},
		{name: "openat2 O_CREAT 0750", typ: "openat2", p: params{flags: wrCreat, mode: 0o750}, want: "true", wantC: "true"},
		{name: "openat O_TMPFILE 0755", typ: "openat", p: params{flags: tmpfile, mode: 0o755}, want: "true", wantC: "false"},
		{name: "openat O_DIRECTORY alone is no O_TMPFILE", typ: "openat", p: params{flags: syscall.O_DIRECTORY, mode: 0o755}, want: "false", wantC: "false"},
		{name: "creat 0755", typ: "creat", p: params{noFlags: true, mode: 0o755}, want: "true", wantC: "true"},
		{name: "creat 0600", typ: "creat", p: params{noFlags: true, mode: 0o600}, want: "false", wantC: "true"},
		{name: "open_by_handle_at never", typ: "open_by_handle_at", p: params{flags: wrCreat, mode: 0o755}, want: "false", wantC: "true"},
		{name: "mode from the fd when the event has none", typ: "openat", p: params{flags: wrCreat, noMode: true},
			fd: &event.FD{Num: 3, Flags: wrCreat, Mode: 0o755}, want: "true", wantC: "true"},
		{name: "flags and mode from the fd", typ: "openat", p: params{noFlags: true, noMode: true},
			fd: &event.FD{Num: 3, Flags: wrCreat, Mode: 0o711}, want: "true", wantC: "true"},
		{name: "no mode anywhere", typ: "openat", p: params{flags: wrCreat, noMode: true}, want: "false", wantC: "true"},
		{name: "chmod is no open", typ: "chmod", p: params{noFlags: true, mode: 0o755}, want: "false", wantC: "false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &event.Event{Type: event.MustType(tc.typ), FD: tc.fd}
			if !tc.p.noFlags {
				e.AddParam("flags", event.OpenFlagsText(uint32(tc.p.flags)), tc.p.flags)
			}
			if !tc.p.noMode {
				e.AddParam("mode", "0", tc.p.mode)
			}
			got := map[string]string{}
			for _, name := range []string{"evt.is_open_exec", "evt.is_open_create"} {
				b, err := Resolve(name)
				if err != nil {
					t.Fatal(err)
				}
				v, ok := b.Extract(&Ctx{Evt: e})
				if !ok {
					got[name] = "<NA>"
					continue
				}
				got[name] = Text(b.Field.Type, v)
			}
			if got["evt.is_open_exec"] != tc.want || got["evt.is_open_create"] != tc.wantC {
				t.Errorf("evt.is_open_exec=%s evt.is_open_create=%s, want %s %s", got["evt.is_open_exec"], got["evt.is_open_create"], tc.want, tc.wantC)
			}
		})
	}
}
