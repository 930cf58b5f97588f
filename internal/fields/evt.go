package fields

import (
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/truesightsec/truesight/internal/event"
)

func init() {
	simple("evt.num", Uint64, "sequence number of the event, starting at 1", func(c *Ctx) (Value, bool) { return num(int64(c.Evt.Num)) })
	simple("evt.type", String, "event type: the syscall's name (openat, execve) or the finding's kind", func(c *Ctx) (Value, bool) { return str(c.Evt.Type.String()) })
	simple("syscall.type", String, "syscall name for syscall events; missing for other sources", func(c *Ctx) (Value, bool) {
		if c.Evt.Source != event.SourceSyscall {
			return Value{}, false
		}
		return str(c.Evt.Type.String())
	})
	register(&Field{Name: "evt.type.is", Type: Bool, Desc: "true when evt.type equals the argument, e.g. evt.type.is[open]", Arg: KeyArg, ArgRequired: true,
		bind: func(arg string, _ bool) (Extractor, Multi, error) {
			t, _ := event.TypeByName(arg)
			return func(c *Ctx) (Value, bool) { return boolean(c.Evt.Type == t && t != event.Unknown) }, nil, nil
		}})
	simple("evt.dir", String, "deprecated: direction of the event; always < since every event is an exit", func(c *Ctx) (Value, bool) { return str("<") })
	registry["evt.dir"].Deprecated = true
	simple("evt.cpu", Int64, "CPU the event happened on", func(c *Ctx) (Value, bool) { return num(int64(c.Evt.CPU)) })
	simple("evt.source", String, "where the event came from: syscall or truesight (detector findings)", func(c *Ctx) (Value, bool) { return str(c.Evt.Source.String()) })
	simple("evt.hostname", String, "name of the host the agent runs on", func(c *Ctx) (Value, bool) { return str(c.Hostname) })
	simple("evt.is_async", Bool, "true for events that no thread caused (none yet)", func(c *Ctx) (Value, bool) { return boolean(false) })

	simple("evt.rawtime", AbsTime, "event time in nanoseconds since the epoch", func(c *Ctx) (Value, bool) { return num(c.Evt.Time) })
	simple("evt.rawtime.s", Uint64, "seconds part of evt.rawtime", func(c *Ctx) (Value, bool) { return num(c.Evt.Time / 1e9) })
	simple("evt.rawtime.ns", Uint64, "nanoseconds part of evt.rawtime", func(c *Ctx) (Value, bool) { return num(c.Evt.Time % 1e9) })
	simple("evt.time", String, "event time as HH:MM:SS.nnnnnnnnn in local time", func(c *Ctx) (Value, bool) { return str(ClockTime(c.Evt.Time)) })
	simple("evt.time.s", String, "event time as HH:MM:SS in local time", func(c *Ctx) (Value, bool) {
		return str(time.Unix(0, c.Evt.Time).Format("15:04:05"))
	})
	simple("evt.time.iso8601", String, "event time in ISO 8601 UTC with nanoseconds", func(c *Ctx) (Value, bool) { return str(ISOTime(c.Evt.Time)) })
	simple("evt.datetime", String, "event date and time as YYYY-MM-DD HH:MM:SS.nnnnnnnnn in local time", func(c *Ctx) (Value, bool) {
		return str(time.Unix(0, c.Evt.Time).Format("2006-01-02 15:04:05.000000000"))
	})
	simple("evt.datetime.s", String, "event date and time as YYYY-MM-DD HH:MM:SS in local time", func(c *Ctx) (Value, bool) {
		return str(time.Unix(0, c.Evt.Time).Format("2006-01-02 15:04:05"))
	})

	simple("evt.rawres", Int64, "the syscall's return value as a number", func(c *Ctx) (Value, bool) {
		if !c.Evt.HasRes {
			return Value{}, false
		}
		return num(c.Evt.Res)
	})
	simple("evt.res", String, "SUCCESS or the errno name of a failed syscall (ENOENT)", func(c *Ctx) (Value, bool) {
		if !c.Evt.HasRes {
			return Value{}, false
		}
		return str(ResultText(c.Evt.Res))
	})
	simple("evt.failed", Bool, "true when the syscall returned an error", func(c *Ctx) (Value, bool) {
		if !c.Evt.HasRes {
			return Value{}, false
		}
		return boolean(c.Evt.Res < 0)
	})
	ioRead, ioWrite := typeSet("read", "readv", "pread", "preadv", "pread64", "preadv2", "recv", "recvfrom", "recvmsg", "recvmmsg"),
		typeSet("write", "writev", "pwrite", "pwritev", "pwrite64", "pwritev2", "send", "sendto", "sendmsg", "sendmmsg", "sendfile")
	simple("evt.is_io", Bool, "true for events that read or write data on a file descriptor (read, write, send, recv and their variants)", func(c *Ctx) (Value, bool) {
		return boolean(ioRead[c.Evt.Type] || ioWrite[c.Evt.Type])
	})
	simple("evt.is_io_read", Bool, "true for events that read data from a file descriptor", func(c *Ctx) (Value, bool) { return boolean(ioRead[c.Evt.Type]) })
	simple("evt.is_io_write", Bool, "true for events that write data to a file descriptor", func(c *Ctx) (Value, bool) { return boolean(ioWrite[c.Evt.Type]) })
	simple("evt.io_dir", String, "read for events that read data, write for events that write it", func(c *Ctx) (Value, bool) {
		switch {
		case ioRead[c.Evt.Type]:
			return str("read")
		case ioWrite[c.Evt.Type]:
			return str("write")
		}
		return Value{}, false
	})
	simple("evt.buffer", Bytes, "the data of a read, write, send or receive (from captures; the live sensor does not copy I/O data)", func(c *Ctx) (Value, bool) {
		p, ok := c.Evt.Param("data")
		if !ok {
			return Value{}, false
		}
		return Value{S: p.Raw}, true
	})
	simple("evt.args", String, "every parameter of the event as name=value pairs, each followed by a space; flags as num(NAMES)", func(c *Ctx) (Value, bool) {
		var b strings.Builder
		c.Evt.Load()
		for i := 0; i < c.Evt.NParams; i++ {
			p := &c.Evt.Params[i]
			b.WriteString(p.Name)
			b.WriteByte('=')
			if p.Sym {
				b.WriteString(strconv.FormatInt(p.Num, 10))
				b.WriteByte('(')
				b.WriteString(p.Text)
				b.WriteByte(')')
			} else {
				b.WriteString(p.Text)
			}
			b.WriteByte(' ')
		}
		return str(b.String())
	})
	simple("evt.info", String, "the event's parameters as text (same as evt.args for syscalls)", func(c *Ctx) (Value, bool) {
		ex := registry["evt.args"]
		e, _, _ := ex.bind("", false)
		return e(c)
	})
	register(&Field{Name: "evt.arg", Type: String, Desc: "one parameter as text, by name (evt.arg.flags, evt.arg[flags]) or by position (evt.arg[0])", Arg: NameOrIndex, ArgRequired: true, bind: bindArg(false)})
	register(&Field{Name: "evt.rawarg", Type: Int64, Desc: "one numeric parameter as a number, by name (evt.rawarg.res)", Arg: NameOrIndex, ArgRequired: true, bind: bindArg(true)})

	simple("evt.is_open_read", Bool, "true for an open that asked for read access", func(c *Ctx) (Value, bool) {
		f, ok := openFlags(c)
		if !ok {
			return boolean(false)
		}
		acc := f & syscall.O_ACCMODE
		return boolean(acc == syscall.O_RDONLY || acc == syscall.O_RDWR)
	})
	simple("evt.is_open_write", Bool, "true for an open that asked for write access", func(c *Ctx) (Value, bool) {
		f, ok := openFlags(c)
		if !ok {
			return boolean(false)
		}
		acc := f & syscall.O_ACCMODE
		return boolean(acc == syscall.O_WRONLY || acc == syscall.O_RDWR)
	})
	simple("evt.is_open_exec", Bool, "true for an open or creat that creates a file with an execute bit: O_CREAT or O_TMPFILE, and mode & 0111", func(c *Ctx) (Value, bool) {
		return boolean(opensExecutable(c))
	})
	simple("evt.is_open_create", Bool, "true for an open with O_CREAT that created the file", func(c *Ctx) (Value, bool) {
		f, ok := openFlags(c)
		if !ok {
			return boolean(false)
		}
		return boolean(f&syscall.O_CREAT != 0)
	})
	simple("evt.abspath", String, "absolute path of the file a path-taking syscall named (unlink, mkdir, rename source)", func(c *Ctx) (Value, bool) {
		if c.Evt.FD != nil && c.Evt.FD.Name != "" {
			return str(c.Evt.FD.Name)
		}
		return Value{}, false
	})
}

// openTypes marks the event types whose flags parameter is an open's
// flags; an array, as it is read on every open event.
var openTypes = func() []bool {
	t := make([]bool, event.NumTypes)
	for _, n := range []string{"open", "openat", "openat2", "creat", "open_by_handle_at"} {
		t[event.MustType(n)] = true
	}
	return t
}()

var typeCreat = event.MustType("creat")

// oTmpfile is Linux's O_TMPFILE (__O_TMPFILE|O_DIRECTORY); syscall lacks it.
const oTmpfile = 0o20200000

var typeOpenByHandle = event.MustType("open_by_handle_at")

// opensExecutable is libsinsp's evt.is_open_exec: an open that may create
// a file (O_CREAT, or O_TMPFILE) with any execute bit in the mode it
// asks for; creat always may. open_by_handle_at takes no mode. The mode is
// the event's parameter, else the one its fd was opened with.
func opensExecutable(c *Ctx) bool {
	f, ok := openFlags(c)
	if !ok || c.Evt.Type == typeOpenByHandle {
		return false
	}
	if f&syscall.O_CREAT == 0 && f&oTmpfile != oTmpfile {
		return false
	}
	mode, ok := c.Evt.ParamNum("mode")
	if !ok {
		if c.Evt.FD == nil {
			return false
		}
		mode = int64(c.Evt.FD.Mode)
	}
	return mode&0o111 != 0
}

func openFlags(c *Ctx) (uint32, bool) {
	if int(c.Evt.Type) >= len(openTypes) || !openTypes[c.Evt.Type] {
		return 0, false
	}
	if c.Evt.Type == typeCreat {
		return syscall.O_CREAT | syscall.O_WRONLY | syscall.O_TRUNC, true
	}
	n, ok := c.Evt.ParamNum("flags")
	if !ok {
		// The flags the open's fd was made with, when the event lacks them.
		if c.Evt.FD == nil || c.Evt.FD.Num < 0 {
			return 0, false
		}
		return c.Evt.FD.Flags, true
	}
	return uint32(n), true
}

func bindArg(raw bool) func(arg string, hasArg bool) (Extractor, Multi, error) {
	return func(arg string, _ bool) (Extractor, Multi, error) {
		if i, err := strconv.Atoi(arg); err == nil {
			return func(c *Ctx) (Value, bool) {
				p, ok := c.Evt.ParamAt(i)
				if !ok {
					return Value{}, false
				}
				if raw {
					return num(p.Num)
				}
				return str(p.Text)
			}, nil, nil
		}
		if arg == "res" {
			return func(c *Ctx) (Value, bool) {
				if !c.Evt.HasRes {
					return Value{}, false
				}
				if raw {
					return num(c.Evt.Res)
				}
				return str(ResultText(c.Evt.Res))
			}, nil, nil
		}
		return func(c *Ctx) (Value, bool) {
			p, ok := c.Evt.Param(arg)
			if !ok {
				return Value{}, false
			}
			if raw {
				return num(p.Num)
			}
			return str(p.Text)
		}, nil, nil
	}
}

// ResultText renders a syscall return value as evt.res does.
func ResultText(res int64) string {
	if res >= 0 {
		return "SUCCESS"
	}
	if name := ErrnoName(-res); name != "" {
		return name
	}
	return strconv.FormatInt(res, 10)
}

// ClockTime formats nanoseconds since the epoch as Falco's text alert time,
// HH:MM:SS.nnnnnnnnn in local time.
func ClockTime(ns int64) string {
	return time.Unix(0, ns).Format("15:04:05.000000000")
}

// ISOTime formats nanoseconds since the epoch as Falco's JSON alert time,
// YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ in UTC.
func ISOTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
}

// typeSet is a set of event types by name, as an array for the event path.
func typeSet(names ...string) []bool {
	set := make([]bool, event.NumTypes)
	for _, n := range names {
		if t, ok := event.TypeByName(n); ok {
			set[t] = true
		}
	}
	return set
}
