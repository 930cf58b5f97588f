package capture

//go:generate go run gen_schema.go

// ParamType is how a parameter's bytes are encoded in an event block, as
// the scap event table names it (PT_CHARBUF, PT_FD, ...).
type ParamType uint8

// Parameter types of the scap event table.
const (
	ParamNone ParamType = iota
	ParamInt8
	ParamInt16
	ParamInt32
	ParamInt64
	ParamUint8
	ParamUint16
	ParamUint32
	ParamUint64
	ParamCharBuf // NUL-terminated text
	ParamByteBuf // raw bytes
	ParamErrno   // int64 return value, negative errno on failure
	ParamSockAddr
	ParamSockTuple
	ParamFD  // int64
	ParamPID // int64
	ParamFDList
	ParamFSPath
	ParamSyscallID // uint16 index into the syscall name table
	ParamSigType   // uint8 signal number
	ParamRelTime
	ParamAbsTime
	ParamPort
	ParamL4Proto
	ParamSockFamily
	ParamBool
	ParamIPv4Addr
	ParamDyn // one index byte choosing the real type, then the value
	ParamFlags8
	ParamFlags16
	ParamFlags32
	ParamUID
	ParamGID
	ParamDouble
	ParamSigSet
	ParamCharBufArray
	ParamCharBufPairArray
	ParamIPv4Net
	ParamIPv6Addr
	ParamIPv6Net
	ParamIPAddr
	ParamIPNet
	ParamMode
	ParamFSRelPath
	ParamEnumFlags8
	ParamEnumFlags16
	ParamEnumFlags32
	ParamFD32
	ParamPID32
)

// ParamInfo names one parameter of an event and says how it is encoded.
type ParamInfo struct {
	Name string
	Type ParamType
}

type eventFlags uint8

const (
	flagExit  eventFlags = 1 << iota // the exit half of a syscall
	flagOld                          // kept to read old captures
	flagLarge                        // parameter lengths are 32 bits
)

// EventInfo describes one event code of the capture format.
type EventInfo struct {
	Code   uint16
	Const  string // the libscap constant, e.g. PPME_SYSCALL_OPEN_X
	Name   string // the event type as Falco names it ("NA" for unused halves)
	Params []ParamInfo
	flags  eventFlags
}

// IsExit reports whether the code is the exit half of a syscall. Codes of
// the format alternate: even codes are enter events, odd ones exit events.
func (i *EventInfo) IsExit() bool { return i.flags&flagExit != 0 }

// Standalone reports whether the event has no exit half: procexit,
// context switches, container records and other events that are whole at
// their enter code.
func (i *EventInfo) Standalone() bool { return standalone[i.Code] }

var standalone = func() [NumCodes]bool {
	var s [NumCodes]bool
	for code := range schema {
		info := &schema[code]
		if !info.IsExit() {
			next := Info(uint16(code) + 1)
			s[code] = next == nil || next.Name == "NA" || !next.IsExit()
		}
	}
	return s
}()

// Old reports whether current producers no longer write this code.
func (i *EventInfo) Old() bool { return i.flags&flagOld != 0 }

// LargePayload reports whether the event's parameter lengths are 32-bit.
func (i *EventInfo) LargePayload() bool { return i.flags&flagLarge != 0 }

// ParamIndex returns the position of the named parameter, or -1.
func (i *EventInfo) ParamIndex(name string) int {
	for j := range i.Params {
		if i.Params[j].Name == name {
			return j
		}
	}
	return -1
}

// NumCodes is one past the largest event code this package knows.
const NumCodes = len(schema)

// Info returns the description of an event code, or nil for a code newer
// than this package.
func Info(code uint16) *EventInfo {
	if int(code) >= len(schema) {
		return nil
	}
	return &schema[code]
}

// codeOf returns the code of a libscap constant; it panics on a name the
// table does not have, so a typo fails at start-up.
func codeOf(name string) uint16 {
	for i := range schema {
		if schema[i].Const == name {
			return schema[i].Code
		}
	}
	panic("capture: no event " + name)
}

// Codes of generic events: syscalls with no event of their own, whose
// first parameter names the syscall.
var (
	CodeGenericE = codeOf("PPME_GENERIC_E")
	CodeGenericX = codeOf("PPME_GENERIC_X")
)

// Event codes the reader handles specially.
var (
	codeContainerE      = codeOf("PPME_CONTAINER_E")
	codeContainerJSONE  = codeOf("PPME_CONTAINER_JSON_E")
	codeContainerJSON2E = codeOf("PPME_CONTAINER_JSON_2_E")
)

// internal lists the codes libsinsp files under its internal category and
// never shows: bookkeeping of the capture itself, not activity.
var internal = func() [NumCodes]bool {
	var m [NumCodes]bool
	for _, name := range []string{
		"PPME_DROP_E", "PPME_DROP_X", "PPME_SCAPEVENT_E", "PPME_SCAPEVENT_X",
		"PPME_PROCINFO_E", "PPME_PROCINFO_X", "PPME_CONTAINER_E", "PPME_CONTAINER_X",
		"PPME_K8S_E", "PPME_K8S_X", "PPME_MESOS_E", "PPME_MESOS_X",
		"PPME_INFRASTRUCTURE_EVENT_E", "PPME_INFRASTRUCTURE_EVENT_X",
	} {
		m[codeOf(name)] = true
	}
	return m
}()

// Internal reports whether events of this code are bookkeeping of the
// capture (drops, per-process CPU counters, old container records) that
// sysdig and Falco never show.
func (i *EventInfo) Internal() bool { return internal[i.Code] }

// isContainer reports whether the code carries container metadata.
func isContainer(code uint16) bool {
	return code == codeContainerE || code == codeContainerJSONE || code == codeContainerJSON2E
}
