package replay

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/ruleset"
)

func le(vals ...any) []byte {
	var b []byte
	for _, v := range vals {
		switch x := v.(type) {
		case uint8:
			b = append(b, x)
		case uint16:
			b = binary.LittleEndian.AppendUint16(b, x)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, x)
		case int64:
			b = binary.LittleEndian.AppendUint64(b, uint64(x))
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, x)
		case string:
			b = append(b, x...)
		default:
			panic("le: unsupported type")
		}
	}
	return b
}

func cstr(s string) []byte { return append([]byte(s), 0) }

func code(name string) uint16 {
	for c := uint16(0); int(c) < capture.NumCodes; c++ {
		if capture.Info(c).Const == name {
			return c
		}
	}
	panic(name)
}

// ev is one event of a synthetic capture.
type ev struct {
	tid    int64
	code   string
	params [][]byte
}

// synth writes a capture with one process (bash, pid 100, cwd /home/u,
// uid 1000) and the given events.
func synth(t *testing.T, events ...ev) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := capture.NewWriter(&buf, capture.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.WriteMachine(capture.MachineInfo{Hostname: "box"})
	w.WriteUsers([]capture.User{{UID: 1000, GID: 1000, Name: "u", Home: "/home/u", Shell: "/bin/bash"}}, []capture.Group{{GID: 1000, Name: "u"}})
	w.WriteThreads([]*capture.ThreadInfo{
		{Tid: 1, Pid: 1, PTid: 0, Comm: "init", Exe: "/sbin/init", Cwd: "/", LoginUID: 0xffffffff},
		{Tid: 100, Pid: 100, PTid: 1, Comm: "bash", Exe: "-bash", Args: []string{"-i"}, Cwd: "/home/u", UID: 1000, GID: 1000, LoginUID: 1000,
			FDs: []capture.FDInfo{{Num: 0, Type: capture.FDFile, Name: "/dev/pts/0"}}},
	})
	for i, e := range events {
		if err := w.WriteEvent(0, 0, int64(1_700_000_000_000_000_000+i), e.tid, code(e.code), e.params); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// observe replays a synthetic capture and renders every event with format.
func observe(t *testing.T, data []byte, format string) []string {
	t.Helper()
	f, err := output.Compile(format)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	_, err = Replay(bytes.NewReader(data), nil, Options{Observe: func(c *fields.Ctx) { got = append(got, f.String(c)) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func cloneX(res, tid, pid, ptid int64, comm string, flags uint32) ev {
	return ev{tid, "PPME_SYSCALL_CLONE_20_X", [][]byte{
		le(res), cstr("-bash"), []byte("-i\x00"), le(tid), le(pid), le(ptid), cstr("/home/u"), le(int64(1024)),
		le(uint64(0)), le(uint64(0)), le(uint32(0)), le(uint32(0)), le(uint32(0)), cstr(comm), nil,
		le(flags), le(uint32(1000)), le(uint32(1000)), le(pid), le(pid), le(uint64(0))}}
}

func execX(tid int64, exe string, args string, comm string) ev {
	return ev{tid, "PPME_SYSCALL_EXECVE_19_X", [][]byte{
		le(int64(0)), cstr(exe), []byte(args), le(tid), le(tid), le(int64(100)), cstr("/home/u"), le(uint64(1024)),
		le(uint64(0)), le(uint64(0)), le(uint32(0)), le(uint32(0)), le(uint32(0)), cstr(comm), nil, nil,
		le(uint32(34816)), le(tid), le(uint32(1000)), le(uint32(0))}}
}

func openatX(tid, fd int64, name string, flags uint32) ev {
	return ev{tid, "PPME_SYSCALL_OPENAT_2_X", [][]byte{le(fd), le(int64(-100)), cstr(name), le(flags), le(uint32(0o644)), le(uint32(0)), le(uint64(9))}}
}

// A fork, an exec, file opens and closes, and the exit build the process
// state the fields read, event by event.
func TestStateFromEvents(t *testing.T) {
	data := synth(t,
		cloneX(200, 100, 100, 1, "bash", 0),               // bash forks 200
		cloneX(0, 200, 200, 100, "bash", 0),               // the child's side
		execX(200, "cat", "notes.txt\x00", "cat"),         // 200 runs cat
		openatX(200, 3, "notes.txt", 1<<0),                // relative to the cwd
		openatX(200, -2, "/etc/shadow", 1<<0),             // failed
		openatX(200, 4, "../u/./out.log", 1<<1|1<<2|1<<8), // write, create, truncate
		ev{200, "PPME_SYSCALL_CLOSE_X", [][]byte{le(int64(0)), le(int64(3))}},
		ev{200, "PPME_SYSCALL_READ_X", [][]byte{le(int64(5)), []byte("hello"), le(int64(3)), le(uint32(5))}},
		ev{200, "PPME_SYSCALL_WRITE_X", [][]byte{le(int64(5)), []byte("hello"), le(int64(4)), le(uint32(5))}},
		ev{200, "PPME_PROCEXIT_1_E", [][]byte{le(int64(0)), le(int64(0)), le(uint8(0)), le(uint8(0)), le(int64(0))}},
		ev{200, "PPME_SYSCALL_WRITE_X", [][]byte{le(int64(1)), []byte("x"), le(int64(4)), le(uint32(1))}},
	)
	got := observe(t, data, "%evt.num %evt.type %proc.name %proc.pid %proc.cmdline %proc.pname %proc.exepath %proc.cwd %user.name %fd.num %fd.name %fd.typechar %evt.arg.flags %evt.res")
	want := []string{
		"1 clone bash 100 bash -i init <NA> /home/u/ u <NA> <NA> <NA> 0 SUCCESS",
		"2 clone bash 200 bash -i bash <NA> /home/u/ u <NA> <NA> <NA> 0 SUCCESS",
		"3 execve cat 200 cat notes.txt bash cat /home/u/ u <NA> <NA> <NA> 0 SUCCESS",
		"4 openat cat 200 cat notes.txt bash cat /home/u/ u 3 /home/u/notes.txt f O_RDONLY SUCCESS",
		"5 openat cat 200 cat notes.txt bash cat /home/u/ u -1 /etc/shadow f O_RDONLY ENOENT",
		"6 openat cat 200 cat notes.txt bash cat /home/u/ u 4 /home/u/out.log f O_TRUNC|O_CREAT|O_WRONLY SUCCESS",
		"7 close cat 200 cat notes.txt bash cat /home/u/ u 3 /home/u/notes.txt f <NA> SUCCESS",
		"8 read cat 200 cat notes.txt bash cat /home/u/ u 3 <NA> ? <NA> SUCCESS",
		"9 write cat 200 cat notes.txt bash cat /home/u/ u 4 /home/u/out.log f <NA> SUCCESS",
		"10 procexit cat 200 cat notes.txt bash cat /home/u/ u <NA> <NA> <NA> <NA> <NA>",
		"11 write <NA> 200 <NA> <NA> <NA> <NA> <NA> 4 <NA> ? <NA> SUCCESS",
	}
	sameLines(t, got, want)
}

// A child whose parent the capture never described still gets an fd
// table (no panic on its first open).
func TestOrphanChildKeepsFDs(t *testing.T) {
	data := synth(t,
		cloneX(0, 300, 300, 299, "worker", 0),
		openatX(300, 5, "/tmp/x", 1<<1),
		ev{300, "PPME_SYSCALL_WRITE_X", [][]byte{le(int64(1)), []byte("x"), le(int64(5)), le(uint32(1))}},
	)
	got := observe(t, data, "%evt.type %proc.name %proc.ppid %fd.name")
	want := []string{"clone worker 299 <NA>", "openat worker 299 /tmp/x", "write worker 299 /tmp/x"}
	sameLines(t, got, want)
}

// The preload attack chain, replayed, raises truesight's default rules:
// paths given relative to a directory fd or the cwd are resolved as the
// kernel would.
func TestDefaultRulesOnPreloadChain(t *testing.T) {
	data := synth(t,
		openatX(100, 3, "/etc/ld.so.preload", 1<<1|1<<2), // write, create
		ev{100, "PPME_SYSCALL_RENAMEAT2_X", [][]byte{le(int64(0)), le(int64(-100)), cstr("evil.tmp"), le(int64(-100)), cstr("../../etc/ld.so.preload"), le(uint32(0))}},
		ev{100, "PPME_SYSCALL_UNLINKAT_2_X", [][]byte{le(int64(0)), le(int64(-100)), cstr("/etc/ld.so.preload"), le(uint32(0))}},
		ev{100, "PPME_SYSCALL_EXECVE_19_X", [][]byte{
			le(int64(0)), cstr("/usr/bin/id"), []byte("-u\x00"), le(int64(100)), le(int64(100)), le(int64(1)), cstr("/home/u"), le(uint64(1024)),
			le(uint64(0)), le(uint64(0)), le(uint32(0)), le(uint32(0)), le(uint32(0)), cstr("id"), nil,
			[]byte("LD_PRELOAD=/tmp/x.so\x00PATH=/bin\x00"), le(uint32(0)), le(int64(100)), le(uint32(1000)), le(uint32(0))}},
	)
	eng := load(t, rules.Source{Name: ruleset.DefaultName, Data: ruleset.Default})
	var got []string
	_, err := Replay(bytes.NewReader(data), eng, Options{}, func(a *output.Alert) {
		got = append(got, fmt.Sprintf("%d %s", a.Time%1000, a.Rule))
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"0 Modify ld.so.preload",
		"1 Replace ld.so.preload",
		"2 Remove or truncate ld.so.preload",
		"3 Program started with LD_PRELOAD or LD_AUDIT",
	}
	sameLines(t, got, want)
}

// An unconnected datagram socket takes its side from its first transfer,
// as libsinsp guesses it: the first to receive is the server (its end is
// the tuple's destination), the first to send the client.
func TestDatagramSocketSideFromFirstTransfer(t *testing.T) {
	tuple := func(src [4]byte, sport uint16, dst [4]byte, dport uint16) []byte {
		return le(uint8(2), string(src[:]), sport, string(dst[:]), dport)
	}
	socketX := func(fd int64) ev {
		return ev{100, "PPME_SOCKET_SOCKET_X", [][]byte{le(fd), le(uint32(2)), le(uint32(2)), le(uint32(0)), le(uint32(0))}}
	}
	data := synth(t,
		socketX(5),
		ev{100, "PPME_SOCKET_RECVFROM_X", [][]byte{le(int64(3)), []byte("dns"), tuple([4]byte{10, 0, 0, 9}, 5353, [4]byte{10, 0, 0, 2}, 53), le(int64(5)), le(uint32(3))}},
		socketX(6),
		ev{100, "PPME_SOCKET_SENDTO_X", [][]byte{le(int64(3)), []byte("dns"), le(int64(6)), le(uint32(3)), tuple([4]byte{10, 0, 0, 2}, 40000, [4]byte{8, 8, 8, 8}, 53)}},
	)
	got := observe(t, data, "%evt.type %fd.num %fd.sip %fd.lport %fd.rport %fd.is_server")
	want := []string{
		"socket 5 <NA> <NA> <NA> false",
		"recvfrom 5 10.0.0.2 53 5353 true",
		"socket 6 <NA> <NA> <NA> false",
		"sendto 6 8.8.8.8 40000 53 false",
	}
	sameLines(t, got, want)
}

// The overlayfs layer bits of an open's flags give fd.is_upper_layer and
// fd.is_lower_layer.
func TestOpenLayerFlags(t *testing.T) {
	data := synth(t,
		openatX(100, 3, "/usr/bin/python3", 1<<0|capture.OpenLowerLayer),
		openatX(100, 4, "/tmp/dropped", 1<<1|capture.OpenUpperLayer),
		openatX(100, 5, "/home/u/notes", 1<<0),
	)
	got := observe(t, data, "%fd.name %fd.is_upper_layer %fd.is_lower_layer")
	want := []string{"/usr/bin/python3 false true", "/tmp/dropped true false", "/home/u/notes false false"}
	sameLines(t, got, want)
}

// sameLines fails the test unless got and want are the same lines.
func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
