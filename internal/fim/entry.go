package fim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Type is the kind of a directory entry.
type Type uint8

// The entry types, as lstat reports them.
const (
	TypeUnknown Type = iota
	TypeFile
	TypeDir
	TypeSymlink
	TypeFifo
	TypeChar
	TypeBlock
	TypeSocket
)

var typeNames = [...]string{"unknown", "file", "dir", "symlink", "fifo", "char", "block", "socket"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type%d", t)
}

// MarshalText writes the type's name.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads a type's name.
func (t *Type) UnmarshalText(b []byte) error {
	i := slices.Index(typeNames[:], string(b))
	if i < 0 {
		return fmt.Errorf("unknown entry type %q", b)
	}
	*t = Type(i)
	return nil
}

func typeOf(mode uint32) Type {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return TypeFile
	case unix.S_IFDIR:
		return TypeDir
	case unix.S_IFLNK:
		return TypeSymlink
	case unix.S_IFIFO:
		return TypeFifo
	case unix.S_IFCHR:
		return TypeChar
	case unix.S_IFBLK:
		return TypeBlock
	case unix.S_IFSOCK:
		return TypeSocket
	}
	return TypeUnknown
}

// Entry is what a baseline records of one file.
type Entry struct {
	// Path is relative to the tree's root and starts with "/".
	Path string `json:"path"`
	Type Type   `json:"type"`
	// Mode holds the permission bits with setuid, setgid and sticky.
	Mode  uint32 `json:"mode"`
	UID   uint32 `json:"uid"`
	GID   uint32 `json:"gid"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"` // nanoseconds since the epoch
	Ctime int64  `json:"ctime"`
	Inode uint64 `json:"inode"`
	Rdev  uint64 `json:"rdev,omitempty"` // devices (and overlay whiteouts, 0:0)
	Link  string `json:"link,omitempty"` // a symlink's target, never followed
	// Digest is "sha256:<hex>" of the content, "sha256-extents:<hex>" for
	// a sparse file (its data extents and their offsets, so holes cost no
	// time), or "" when the entry is not a regular file or was not hashed
	// (Note says why).
	Digest string `json:"digest,omitempty"`
	// Xattrs are every extended attribute, security.capability and the
	// POSIX ACLs (system.posix_acl_*) included.
	Xattrs map[string][]byte `json:"xattrs,omitempty"`
	// Note says why a file has no digest, or that it changed while hashed.
	Note string `json:"note,omitempty"`
}

// overlayXattr reports whether name is one of overlayfs's own attributes
// (whiteout and opaque marks, origin and redirect records), which say how
// a layer is stored, not what the container sees.
func overlayXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}

// Whiteout reports whether the entry is an overlayfs whiteout: a character
// device 0:0, or a file marked with the overlay.whiteout attribute.
func (e *Entry) Whiteout() bool {
	if e.Type == TypeChar && e.Rdev == 0 {
		return true
	}
	return e.xattr("overlay.whiteout") != nil
}

// Opaque reports whether the entry is an opaque directory: it hides
// everything below it in the lower layers.
func (e *Entry) Opaque() bool {
	if e.Type != TypeDir {
		return false
	}
	v := e.xattr("overlay.opaque")
	return v != nil && (bytes.Equal(v, []byte("y")) || bytes.Equal(v, []byte("x")))
}

func (e *Entry) xattr(suffix string) []byte {
	for _, p := range []string{"trusted.", "user."} {
		if v, ok := e.Xattrs[p+suffix]; ok {
			return v
		}
	}
	return nil
}

// Kind is what happened to a file.
type Kind string

// The change kinds.
const (
	Added    Kind = "added"
	Modified Kind = "modified" // content (or type, or link target)
	Metadata Kind = "metadata" // mode, owner, xattrs or mtime only
	Deleted  Kind = "deleted"
	// Tampered is a baseline record whose HMAC does not verify, or a
	// baseline whose records were added or removed behind truesight's back.
	Tampered Kind = "tampered"
)

// Compare says how now differs from was, and which attributes differ. It
// ignores what a copy-up or a restart changes without the file changing:
// inode and ctime, the mtime of directories (a child was added or
// removed, reported on its own) and overlayfs's own attributes. With
// sameInode, a different inode is a change (a file replaced on a host
// tree, where inodes are stable).
func Compare(was, now *Entry, sameInode bool) (Kind, []string) {
	var content, meta []string
	if was.Type != now.Type {
		content = append(content, "type")
	}
	if was.Link != now.Link {
		content = append(content, "link")
	}
	if was.Type == TypeFile && now.Type == TypeFile {
		if was.Size != now.Size {
			content = append(content, "size")
		}
		if was.Digest != now.Digest && was.Digest != "" && now.Digest != "" {
			content = append(content, "digest")
		}
	}
	if (was.Type == TypeChar || was.Type == TypeBlock) && was.Rdev != now.Rdev {
		content = append(content, "rdev")
	}
	if was.Mode != now.Mode {
		meta = append(meta, "mode")
	}
	if was.UID != now.UID {
		meta = append(meta, "uid")
	}
	if was.GID != now.GID {
		meta = append(meta, "gid")
	}
	if !equalXattrs(was.Xattrs, now.Xattrs) {
		meta = append(meta, "xattrs")
	}
	if now.Type != TypeDir && was.Mtime != now.Mtime {
		meta = append(meta, "mtime")
	}
	if sameInode && was.Inode != now.Inode {
		meta = append(meta, "inode")
	}
	switch {
	case len(content) > 0:
		return Modified, append(content, meta...)
	case len(meta) > 0:
		return Metadata, meta
	}
	return "", nil
}

func equalXattrs(a, b map[string][]byte) bool {
	strip := func(m map[string][]byte) map[string][]byte {
		out := map[string][]byte{}
		for k, v := range m {
			if !overlayXattr(k) {
				out[k] = v
			}
		}
		return out
	}
	return maps.EqualFunc(strip(a), strip(b), bytes.Equal)
}

// encodeEntry is the stored form of an entry.
func encodeEntry(e *Entry) ([]byte, error) { return json.Marshal(e) }

func decodeEntry(b []byte) (*Entry, error) {
	e := &Entry{}
	if err := json.Unmarshal(b, e); err != nil {
		return nil, err
	}
	return e, nil
}
