package node

import "path/filepath"

// Root is where the node's / is seen: "" or "/" on the node itself,
// "/host" in a pod that mounts the node's / there.
type Root string

// Path returns where the node's absolute path p is seen from the agent.
// p is taken as absolute and cleaned: Root("/host").Path("proc") and
// Path("/proc") are both "/host/proc"; ".." cannot climb above the root.
func (r Root) Path(p string) string {
	p = filepath.Clean("/" + p)
	if r.IsHost() {
		return p
	}
	return filepath.Join(string(r), p)
}

// IsHost reports whether the agent sees the node's / as its own.
func (r Root) IsHost() bool {
	return r == "" || filepath.Clean(string(r)) == "/"
}

// String is the root as given, "/" for the node itself.
func (r Root) String() string {
	if r.IsHost() {
		return "/"
	}
	return string(r)
}
