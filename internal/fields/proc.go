package fields

import (
	"strconv"
	"strings"

	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/state"
)

// procString registers a string field of the process with parent (p) and
// ancestor (a) variants, the way Falco offers proc.name, proc.pname and
// proc.aname.
func procFamily(name, pname, aname string, desc string, get func(p *state.Process) (string, bool)) {
	simple(name, String, desc, func(c *Ctx) (Value, bool) {
		if c.Proc == nil {
			return Value{}, false
		}
		s, ok := get(c.Proc)
		return Value{S: s}, ok
	})
	if pname != "" {
		simple(pname, String, desc+", of the parent process", func(c *Ctx) (Value, bool) {
			if c.Proc == nil || c.Proc.Parent == nil {
				return Value{}, false
			}
			s, ok := get(c.Proc.Parent)
			return Value{S: s}, ok
		})
	}
	if aname != "" {
		register(&Field{Name: aname, Type: String, Arg: IndexArg,
			Desc: desc + ", of an ancestor: [0] the process, [1] its parent, [2] the grandparent; without an index, any ancestor",
			bind: func(arg string, hasArg bool) (Extractor, Multi, error) {
				if hasArg {
					n, _ := strconv.Atoi(arg)
					return func(c *Ctx) (Value, bool) {
						if c.Proc == nil {
							return Value{}, false
						}
						a := c.Proc.Ancestor(n)
						if a == nil {
							return Value{}, false
						}
						s, ok := get(a)
						return Value{S: s}, ok
					}, nil, nil
				}
				multi := func(c *Ctx, t ValueTest) bool {
					if c.Proc == nil {
						return false
					}
					for a, i := c.Proc.Parent, 0; a != nil && i < maxAncestors; a, i = a.Parent, i+1 {
						if s, ok := get(a); ok && t.Test(Value{S: s}) {
							return true
						}
					}
					return false
				}
				// In an output, the unindexed form lists the ancestors.
				list := func(c *Ctx) (Value, bool) {
					var b strings.Builder
					if c.Proc == nil {
						return Value{}, false
					}
					for a, i := c.Proc.Parent, 0; a != nil && i < maxAncestors; a, i = a.Parent, i+1 {
						if s, ok := get(a); ok {
							if b.Len() > 0 {
								b.WriteByte(',')
							}
							b.WriteString(s)
						}
					}
					if b.Len() == 0 {
						return Value{}, false
					}
					return Value{S: b.String()}, true
				}
				return list, multi, nil
			}})
	}
}

// maxAncestors bounds ancestor walks so a corrupt tree cannot loop.
const maxAncestors = 64

func procInt(name string, t Type, desc string, get func(p *state.Process) (int64, bool)) {
	simple(name, t, desc, func(c *Ctx) (Value, bool) {
		if c.Proc == nil {
			return Value{}, false
		}
		n, ok := get(c.Proc)
		return Value{N: n}, ok
	})
}

func procBool(name string, desc string, get func(p *state.Process) bool) {
	simple(name, Bool, desc, func(c *Ctx) (Value, bool) {
		if c.Proc == nil {
			return Value{}, false
		}
		return boolean(get(c.Proc))
	})
}

func nonEmpty(s string) (string, bool) { return s, s != "" }

// sessionLeader is the ancestor whose pid is p's session id, else, as
// libsinsp has it, the eldest ancestor in the same session.
func sessionLeader(p *state.Process) *state.Process {
	var eldest *state.Process
	for a, i := p, 0; a != nil && i < maxAncestors; a, i = a.Parent, i+1 {
		if a.VPid != 0 && a.VPid == p.Sid || a.Pid == p.Sid {
			return a
		}
		if a.Sid == p.Sid {
			eldest = a
		}
	}
	return eldest
}

// groupLeader is the ancestor leading p's process group, or nil.
func groupLeader(p *state.Process) *state.Process {
	for a, i := p, 0; a != nil && i < maxAncestors; a, i = a.Parent, i+1 {
		if a.VPid == p.VPgid {
			return a
		}
	}
	return nil
}

func init() {
	procFamily("proc.name", "proc.pname", "proc.aname", "name of the executable (the kernel's comm, up to 15 characters)",
		func(p *state.Process) (string, bool) { return nonEmpty(p.Comm) })
	procFamily("proc.exe", "proc.pexe", "proc.aexe", "first command-line argument (argv[0]) as the process was started",
		func(p *state.Process) (string, bool) { return nonEmpty(p.Exe) })
	procFamily("proc.exepath", "proc.pexepath", "proc.aexepath", "full path of the executable file, resolved by the kernel",
		func(p *state.Process) (string, bool) { return nonEmpty(p.ExePath) })
	procFamily("proc.args", "", "proc.aargs", "command-line arguments after argv[0], joined by spaces",
		func(p *state.Process) (string, bool) { return p.ArgsText, true })
	procFamily("proc.cmdline", "proc.pcmdline", "proc.acmdline", "process name and arguments (proc.name + \" \" + proc.args)",
		func(p *state.Process) (string, bool) { return nonEmpty(p.Cmdline) })
	procFamily("proc.cwd", "", "", "current working directory",
		func(p *state.Process) (string, bool) { return nonEmpty(p.Cwd) })
	procFamily("proc.exeline", "", "", "full command line including argv[0] (proc.exe + \" \" + proc.args)",
		func(p *state.Process) (string, bool) {
			if p.ArgsText == "" {
				return nonEmpty(p.Exe)
			}
			return p.Exe + " " + p.ArgsText, true
		})
	register(&Field{Name: "proc.env", Type: String, Arg: KeyArg, Desc: "environment of the process; with an argument, the value of that variable (proc.env[LD_PRELOAD])",
		bind: func(arg string, hasArg bool) (Extractor, Multi, error) {
			return func(c *Ctx) (Value, bool) {
				if c.Proc == nil {
					return Value{}, false
				}
				if !hasArg {
					return str(strings.Join(c.Proc.Env, " "))
				}
				for _, kv := range c.Proc.Env {
					if len(kv) > len(arg) && kv[len(arg)] == '=' && kv[:len(arg)] == arg {
						return str(kv[len(arg)+1:])
					}
				}
				return Value{}, false
			}, nil, nil
		}})

	procInt("proc.pid", Int64, "process id (host pid namespace)", func(p *state.Process) (int64, bool) { return p.Pid, true })
	procInt("proc.ppid", Int64, "parent's process id", func(p *state.Process) (int64, bool) { return p.PPid, p.PPid != 0 })
	procInt("proc.vpid", Int64, "process id inside its own pid namespace", func(p *state.Process) (int64, bool) { return p.VPid, p.VPid != 0 })
	simple("proc.pvpid", Int64, "parent's process id inside its pid namespace", func(c *Ctx) (Value, bool) {
		if c.Proc == nil || c.Proc.Parent == nil {
			return Value{}, false
		}
		return num(c.Proc.Parent.VPid)
	})
	register(&Field{Name: "proc.apid", Type: Int64, Arg: IndexArg, Desc: "pid of an ancestor: [1] the parent, [2] the grandparent; without an index, any ancestor",
		bind: func(arg string, hasArg bool) (Extractor, Multi, error) {
			n := 1
			if hasArg {
				n, _ = strconv.Atoi(arg)
			}
			ex := func(c *Ctx) (Value, bool) {
				if c.Proc == nil {
					return Value{}, false
				}
				a := c.Proc.Ancestor(n)
				if a == nil {
					return Value{}, false
				}
				return num(a.Pid)
			}
			if hasArg {
				return ex, nil, nil
			}
			return ex, func(c *Ctx, t ValueTest) bool {
				if c.Proc == nil {
					return false
				}
				for a, i := c.Proc.Parent, 0; a != nil && i < maxAncestors; a, i = a.Parent, i+1 {
					if t.Test(Value{N: a.Pid}) {
						return true
					}
				}
				return false
			}, nil
		}})
	procInt("proc.sid", Int64, "session id", func(p *state.Process) (int64, bool) { return p.Sid, true })
	procInt("proc.vpgid", Int64, "process group id inside the pid namespace", func(p *state.Process) (int64, bool) { return p.VPgid, true })
	procInt("proc.tty", Uint64, "controlling terminal device number, 0 when there is none", func(p *state.Process) (int64, bool) { return int64(p.TTY), true })
	leaderField := func(name, desc string, leader func(*state.Process) *state.Process, get func(*state.Process) string) {
		simple(name, String, desc, func(c *Ctx) (Value, bool) {
			if c.Proc == nil {
				return Value{}, false
			}
			l := leader(c.Proc)
			if l == nil {
				return Value{}, false
			}
			return nonEmptyV(get(l))
		})
	}
	comm := func(p *state.Process) string { return p.Comm }
	exe := func(p *state.Process) string { return p.Exe }
	exePath := func(p *state.Process) string { return p.ExePath }
	leaderField("proc.sname", "name of the session leader: the ancestor whose pid is the session id, else the eldest ancestor in the same session", sessionLeader, comm)
	leaderField("proc.sid.exe", "first command-line argument of the session leader", sessionLeader, exe)
	leaderField("proc.sid.exepath", "executable path of the session leader", sessionLeader, exePath)
	for n, stream := range []string{"stdin", "stdout", "stderr"} {
		fd := int64(n)
		simple("proc."+stream+".type", String, "type of the process's "+stream+" (fd "+strconv.Itoa(n)+"), as fd.type", func(c *Ctx) (Value, bool) {
			if c.Proc == nil || c.Proc.FDs[fd] == nil || c.Proc.FDs[fd].Type == event.FDUnknown {
				return Value{}, false
			}
			return str(c.Proc.FDs[fd].Type.String())
		})
		simple("proc."+stream+".name", String, "name of the process's "+stream+" (fd "+strconv.Itoa(n)+"), as fd.name", func(c *Ctx) (Value, bool) {
			if c.Proc == nil || c.Proc.FDs[fd] == nil {
				return Value{}, false
			}
			return nonEmptyV(c.Proc.FDs[fd].Name)
		})
	}
	procInt("proc.fdopencount", Uint64, "number of file descriptors the process has open, as far as truesight has seen them", func(p *state.Process) (int64, bool) { return int64(len(p.FDs)), true })
	leaderField("proc.vpgid.name", "name of the process group leader", groupLeader, comm)
	leaderField("proc.vpgid.exe", "first command-line argument of the process group leader", groupLeader, exe)
	leaderField("proc.vpgid.exepath", "executable path of the process group leader", groupLeader, exePath)
	procBool("proc.is_sid_leader", "true when the process leads its session", func(p *state.Process) bool { return p.VPid == p.Sid })
	procBool("proc.is_vpgid_leader", "true when the process leads its process group", func(p *state.Process) bool { return p.VPid == p.VPgid })
	procInt("proc.cmdnargs", Uint64, "number of command-line arguments", func(p *state.Process) (int64, bool) { return int64(len(p.Args)), true })
	procInt("proc.cmdlenargs", Uint64, "total length of the command-line arguments", func(p *state.Process) (int64, bool) {
		n := 0
		for _, a := range p.Args {
			n += len(a)
		}
		return int64(n), true
	})
	simple("proc.duration", RelTime, "nanoseconds since the process started", func(c *Ctx) (Value, bool) {
		if c.Proc == nil || c.Proc.StartTime == 0 {
			return Value{}, false
		}
		return num(c.Evt.Time - c.Proc.StartTime)
	})
	simple("proc.ppid.duration", RelTime, "nanoseconds since the parent started", func(c *Ctx) (Value, bool) {
		if c.Proc == nil || c.Proc.Parent == nil || c.Proc.Parent.StartTime == 0 {
			return Value{}, false
		}
		return num(c.Evt.Time - c.Proc.Parent.StartTime)
	})
	procInt("proc.pid.ts", AbsTime, "start time of the process", func(p *state.Process) (int64, bool) { return p.StartTime, p.StartTime != 0 })
	simple("proc.ppid.ts", AbsTime, "start time of the parent", func(c *Ctx) (Value, bool) {
		if c.Proc == nil || c.Proc.Parent == nil || c.Proc.Parent.StartTime == 0 {
			return Value{}, false
		}
		return num(c.Proc.Parent.StartTime)
	})
	procBool("proc.is_exe_writable", "true when the executable is writable by the process's user", func(p *state.Process) bool { return p.ExeWritable })
	procBool("proc.is_exe_upper_layer", "true when the executable lives in a container's overlayfs upper layer (written after the image)", func(p *state.Process) bool { return p.ExeUpperLayer })
	procBool("proc.is_exe_lower_layer", "true when the executable comes from an image's overlayfs lower layer", func(p *state.Process) bool { return p.ExeLowerLayer })
	procBool("proc.is_exe_from_memfd", "true when the executable is a memfd (fileless execution)", func(p *state.Process) bool { return p.ExeFromMemfd })
	procInt("proc.exe_ino", Int64, "inode number of the executable", func(p *state.Process) (int64, bool) { return int64(p.ExeIno), p.ExeIno != 0 })
	procInt("proc.exe_ino.ctime", AbsTime, "last status change time of the executable's inode", func(p *state.Process) (int64, bool) { return p.ExeCtime, p.ExeCtime != 0 })
	procInt("proc.exe_ino.mtime", AbsTime, "last modification time of the executable", func(p *state.Process) (int64, bool) { return p.ExeMtime, p.ExeMtime != 0 })
	procInt("proc.exe_ino.ctime_duration_proc_start", AbsTime, "nanoseconds between the executable's ctime and the process start", func(p *state.Process) (int64, bool) {
		return p.StartTime - p.ExeCtime, p.ExeCtime != 0 && p.StartTime != 0
	})
	procInt("proc.exe_ino.ctime_duration_pidns_start", AbsTime, "nanoseconds between the pid namespace's start and the executable's ctime", func(p *state.Process) (int64, bool) {
		return p.ExeCtime - p.PidNSStart, p.ExeCtime != 0 && p.PidNSStart != 0
	})
	procInt("proc.pidns_init_start_ts", AbsTime, "start time of the pid namespace's init process", func(p *state.Process) (int64, bool) { return p.PidNSStart, p.PidNSStart != 0 })

	// thread.*
	simple("thread.tid", Int64, "thread id", func(c *Ctx) (Value, bool) { return num(c.Evt.Tid) })
	simple("thread.vtid", Int64, "thread id inside the pid namespace", func(c *Ctx) (Value, bool) {
		if c.Proc == nil {
			return Value{}, false
		}
		if c.Evt.Tid == c.Proc.Tid {
			return num(c.Proc.VPid)
		}
		return Value{}, false
	})
	simple("thread.ismain", Bool, "true when the event's thread is the main thread of its process", func(c *Ctx) (Value, bool) { return boolean(c.Evt.Tid == c.Evt.Pid) })
	capField("thread.cap_effective", "effective capabilities of the thread, as CAP_ names", func(p *state.Process) uint64 { return p.CapEffective })
	capField("thread.cap_permitted", "permitted capabilities of the thread, as CAP_ names", func(p *state.Process) uint64 { return p.CapPermitted })
	capField("thread.cap_inheritable", "inheritable capabilities of the thread, as CAP_ names", func(p *state.Process) uint64 { return p.CapInherit })
	simple("thread.cgroups", String, "cgroup path of the thread", func(c *Ctx) (Value, bool) {
		if c.Proc == nil {
			return Value{}, false
		}
		return nonEmptyV(c.Proc.Cgroup)
	})

	// user.* and group.*
	procInt("user.uid", Uint64, "user id of the process", func(p *state.Process) (int64, bool) { return int64(p.UID), true })
	simple("user.name", String, "user name, resolved in the process's own root (root for uid 0 when unknown, else <NA>)", func(c *Ctx) (Value, bool) {
		if c.Proc == nil {
			return Value{}, false
		}
		return str(userName(c.Proc.UserName, c.Proc.UID))
	})
	procFamily("user.homedir", "", "", "home directory of the user", func(p *state.Process) (string, bool) { return nonEmpty(p.UserHome) })
	procFamily("user.shell", "", "", "login shell of the user", func(p *state.Process) (string, bool) { return nonEmpty(p.UserShell) })
	procInt("user.loginuid", Int64, "audit login user id: the user who logged in, kept across su and sudo (-1 when unset)", func(p *state.Process) (int64, bool) { return p.LoginUID, true })
	simple("user.loginname", String, "name of the login user", func(c *Ctx) (Value, bool) {
		if c.Proc == nil {
			return Value{}, false
		}
		if c.Proc.LoginUID < 0 || c.Proc.LoginUID == 0xffffffff {
			return Value{}, false
		}
		return str(userName(c.Proc.LoginName, uint32(c.Proc.LoginUID)))
	})
	procInt("group.gid", Uint64, "group id of the process", func(p *state.Process) (int64, bool) { return int64(p.GID), true })
	simple("group.name", String, "group name, resolved in the process's own root", func(c *Ctx) (Value, bool) {
		if c.Proc == nil {
			return Value{}, false
		}
		return str(userName(c.Proc.GroupName, c.Proc.GID))
	})
}

// userName applies Falco's fallback for an unresolved id: root for 0,
// otherwise the literal text <NA>.
func userName(name string, id uint32) string {
	if name != "" {
		return name
	}
	if id == 0 {
		return "root"
	}
	return "<NA>"
}

func nonEmptyV(s string) (Value, bool) { return Value{S: s}, s != "" }

func capField(name, desc string, get func(p *state.Process) uint64) {
	simple(name, String, desc, func(c *Ctx) (Value, bool) {
		if c.Proc == nil {
			return Value{}, false
		}
		return str(CapText(get(c.Proc)))
	})
}
