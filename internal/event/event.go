package event

import (
	"net/netip"
	"strconv"
)

// Source names where an event came from, as Falco's evt.source and the
// "source" key of a JSON alert do.
type Source uint8

const (
	// SourceSyscall is the kernel's syscall stream (live or replayed).
	SourceSyscall Source = iota
	// SourceTruesight is truesight's own detectors (hidden processes,
	// preload configuration, injected libraries).
	SourceTruesight
)

// String returns the Falco name of the source.
func (s Source) String() string {
	switch s {
	case SourceSyscall:
		return "syscall"
	case SourceTruesight:
		return "truesight"
	}
	return "unknown"
}

// SourceByName parses a rule's source key.
func SourceByName(name string) (Source, bool) {
	switch name {
	case "syscall":
		return SourceSyscall, true
	case "truesight":
		return SourceTruesight, true
	}
	return 0, false
}

// MaxParams bounds the parameters of one event so that an Event needs no
// allocation of its own. It is the scap format's own bound: Falco's
// execve exit event has 30 parameters.
const MaxParams = 32

// Param is one event parameter as Falco shows it in evt.arg.<name>: its name
// and its rendered text (flags as names, fds as numbers, paths as strings).
// Num holds the raw integer value where the parameter is numeric.
type Param struct {
	Name string
	Text string
	Num  int64
	// Sym marks Text as the symbolic name of Num (flags, enums, signals):
	// evt.args then prints both, as num(text).
	Sym bool
	// Raw holds the bytes of a data buffer (read, write, send, recv), which
	// Text shows with unprintable bytes as dots.
	Raw string
}

// Event is one syscall exit or one detector finding.
type Event struct {
	Num    uint64 // sequence number, starting at 1
	Time   int64  // nanoseconds since the Unix epoch
	Type   Type
	Source Source
	CPU    uint16
	Tid    int64 // host thread id
	Pid    int64 // host thread-group id
	Res    int64 // return value (negative errno on failure)

	// HasRes is false for events that have no return value (process exit,
	// findings).
	HasRes bool

	Params  [MaxParams]Param
	NParams int

	// Paths are the kernel-resolved absolute forms of the event's path
	// parameters, in argument order (rename: old, new); empty where the
	// path was not resolved.
	Paths [2]string

	// FD is the file descriptor the event opened, used or closed, resolved
	// against the process's fd table; nil when the event has none.
	FD *FD

	// Finding carries a detector's report; nil for syscall events.
	Finding *Finding

	// Loader, when set, holds the parameters not yet rendered: a decoder
	// for which rendering costs more than most events are worth (replay)
	// sets it instead of filling Params, and the first use renders them.
	Loader ParamLoader
}

// ParamLoader renders an event's parameters on first use.
type ParamLoader interface {
	// LoadParams appends every parameter to e.
	LoadParams(e *Event)
	// ParamNum returns the number of the named parameter (Param.Num)
	// without rendering any text.
	ParamNum(name string) (int64, bool)
}

// Load renders the parameters a Loader holds; the accessors call it.
func (e *Event) Load() {
	if l := e.Loader; l != nil {
		e.Loader = nil
		l.LoadParams(e)
	}
}

// ParamNum returns the number of the named parameter, rendering nothing.
func (e *Event) ParamNum(name string) (int64, bool) {
	if e.Loader != nil {
		return e.Loader.ParamNum(name)
	}
	if p, ok := e.Param(name); ok {
		return p.Num, true
	}
	return 0, false
}

// AddParam appends a parameter, dropping it if the event is full.
func (e *Event) AddParam(name, text string, num int64) {
	if e.NParams < MaxParams {
		e.Params[e.NParams] = Param{Name: name, Text: text, Num: num}
		e.NParams++
	}
}

// AddSym appends a parameter whose text names its numeric value.
func (e *Event) AddSym(name, text string, num int64) {
	if e.NParams < MaxParams {
		e.Params[e.NParams] = Param{Name: name, Text: text, Num: num, Sym: true}
		e.NParams++
	}
}

// Param returns the parameter with the given name.
func (e *Event) Param(name string) (*Param, bool) {
	e.Load()
	for i := 0; i < e.NParams; i++ {
		if e.Params[i].Name == name {
			return &e.Params[i], true
		}
	}
	return nil, false
}

// ParamAt returns the i-th parameter (0-based).
func (e *Event) ParamAt(i int) (*Param, bool) {
	e.Load()
	if i < 0 || i >= e.NParams {
		return nil, false
	}
	return &e.Params[i], true
}

// Reset clears the event for reuse by a decoder.
func (e *Event) Reset() {
	*e = Event{}
}

// FDType is the kind of object behind a file descriptor, as Falco's fd.type.
type FDType uint8

// File descriptor types. Their characters (fd.typechar) follow Falco.
const (
	FDUnknown FDType = iota
	FDFile
	FDDirectory
	FDIPv4
	FDIPv6
	FDUnix
	FDPipe
	FDEvent
	FDSignalfd
	FDEventPoll
	FDInotify
	FDTimerfd
	FDNetlink
	FDBPF
	FDUserfaultfd
	FDIOUring
	FDMemfd
	FDPidfd
)

var fdTypeNames = [...]string{"<NA>", "file", "directory", "ipv4", "ipv6", "unix", "pipe", "event", "signalfd", "eventpoll", "inotify", "timerfd", "netlink", "bpf", "userfaultfd", "io_uring", "memfd", "pidfd"}
var fdTypeChars = [...]string{"?", "f", "d", "4", "6", "u", "p", "e", "s", "l", "i", "t", "n", "b", "u", "r", "m", "P"}

// String returns Falco's fd.type name.
func (t FDType) String() string {
	if int(t) < len(fdTypeNames) {
		return fdTypeNames[t]
	}
	return "<NA>"
}

// Char returns Falco's fd.typechar.
func (t FDType) Char() string {
	if int(t) < len(fdTypeChars) {
		return fdTypeChars[t]
	}
	return "?"
}

// L4Proto is the transport protocol of a socket.
type L4Proto uint8

// Transport protocols, named as fd.l4proto prints them.
const (
	L4Unknown L4Proto = iota
	L4TCP
	L4UDP
	L4ICMP
	L4Raw
)

// String returns Falco's fd.l4proto text.
func (p L4Proto) String() string {
	switch p {
	case L4TCP:
		return "tcp"
	case L4UDP:
		return "udp"
	case L4ICMP:
		return "icmp"
	case L4Raw:
		return "raw"
	}
	return "<NA>"
}

// FD is what a file descriptor refers to.
type FD struct {
	Num  int64
	Type FDType

	// Name is the path as Falco shows it in fd.name: for files the
	// kernel-resolved absolute path as the process sees it (inside its own
	// root), for sockets the "cip:cport->sip:sport" tuple.
	Name string
	// NameRaw is the path string the syscall was given, unresolved.
	NameRaw string
	// NameChanged is set when Name differs from what the fd had before
	// (fd.name_changed).
	NameChanged bool

	Flags  uint32 // open flags in the kernel's O_* encoding
	Mode   uint32
	Dev    uint32
	Ino    uint64
	Upper  bool // the file lives on an overlayfs upper layer
	Lower  bool // the file lives on an overlayfs lower layer (the image)
	Exists bool // the file existed before the open

	// TargetContainer is the id of the container whose root filesystem
	// holds the file ("host" for the host root, "" when unknown); it
	// differs from the process's container for writes through
	// /proc/<pid>/root/....
	TargetContainer string
	// TargetPath is the path inside that container's root.
	TargetPath string

	// Sockets.
	L4         L4Proto
	Family     uint16
	ClientIP   netip.Addr
	ServerIP   netip.Addr
	ClientPort uint16
	ServerPort uint16
	// LocalIsServer says whether the local end is the server side.
	LocalIsServer bool
	Connected     bool
	// Role is the socket's side as libsinsp keeps it: none from socket()
	// until a connect, accept, bind or data transfer tells. A socket with
	// no role has no ends for the fd.*ip and fd.*port fields.
	Role FDRole
}

// FDRole is a socket's side of its connection.
type FDRole uint8

// Socket roles.
const (
	RoleNone FDRole = iota
	RoleClient
	RoleServer
)

// Ends says which ends of a socket the address and port fields may read:
// none before the socket has a role, only the server end for a bound (or
// listening) socket that has no peer, else both.
func (f *FD) Ends() (server, client bool) {
	switch {
	case f.Role == RoleNone:
		return false, false
	case f.Role == RoleServer && !f.ClientIP.IsValid() && f.ClientPort == 0:
		return true, false
	}
	return true, true
}

// Finding is a detector's report, carried by events of SourceTruesight.
type Finding struct {
	Kind      string // hidden_process, preload_config, preload_env, injected_library, posture, enforce, file_drift
	Summary   string
	Views     string // which views disagree, for hidden processes
	Library   string // path inside the root
	SHA256    string
	Symbols   string // overridden symbols, comma-separated
	Root      string // the root the finding lives in
	Detail    map[string]string
	FirstSeen int64

	// File drift (internal/fim): the file, in the target container's
	// root, what happened to it (added, modified, metadata, deleted), the
	// image layer its old state comes from, its old and new digests and
	// modes (octal), the container it changed in (full id, name, image),
	// which may not be the writer's, and the writer as text.
	Path           string
	Change         string
	Layer          string
	OldSHA256      string
	NewSHA256      string
	OldMode        string
	NewMode        string
	Container      string
	ContainerName  string
	ContainerImage string
	Writer         string
}

// TupleName is fd.name of a connected socket as Falco prints it:
// cip:cport->sip:sport, IPv6 addresses without brackets, <NA> for an
// unknown address.
func TupleName(cip netip.Addr, cport uint16, sip netip.Addr, sport uint16) string {
	return AddrPortName(cip, cport) + "->" + AddrPortName(sip, sport)
}

// AddrPortName is one end of a socket as fd.name prints it: addr:port.
func AddrPortName(a netip.Addr, port uint16) string {
	if !a.IsValid() {
		return "<NA>:" + strconv.Itoa(int(port))
	}
	return a.String() + ":" + strconv.Itoa(int(port))
}
