package enforce

import "time"

// Action is what protection did about a write.
type Action string

// Actions, the values of finding.detail[action].
const (
	ActionDenied   Action = "denied"   // the open failed with EPERM
	ActionAlerted  Action = "alerted"  // detect mode, or the intent was unknown: allowed
	ActionRestored Action = "restored" // renamed, linked or removed: the copy is back (and the process killed in enforce mode)
	ActionTimeout  Action = "timeout"  // no decision within the deadline: allowed
	ActionLapsed   Action = "lapsed"   // the previous agent died while protecting
	ActionFailed   Action = "failed"   // a restore or kill did not succeed
)

// Block is one report of protection: what was attempted on which
// protected path, by whom, under which policy entry, and what was done.
type Block struct {
	Action Action
	// Path is the protected path inside the root; Policy the
	// protected_paths entry that covers it.
	Path, Policy string
	Root         Root
	Writer       Writer
	// Flags are the open's flags (0 when not an open or unknown).
	Flags uint64
	// Syscall names what changed the path when it was not an open
	// (rename, link, unlink...).
	Syscall string
	// Killed says the writer was sent SIGKILL.
	Killed bool
	// Window is how long the replaced file was visible (from the
	// syscall's return to the restore), for restores.
	Window time.Duration
	Reason string
	Time   time.Time
}
