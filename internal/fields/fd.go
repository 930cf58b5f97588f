package fields

import (
	"net/netip"
	"path"
	"strings"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
)

func fdField(name string, t Type, desc string, get func(c *Ctx, fd *event.FD) (Value, bool)) {
	simple(name, t, desc, func(c *Ctx) (Value, bool) {
		if c.Evt.FD == nil {
			return Value{}, false
		}
		return get(c, c.Evt.FD)
	})
}

// fdDirectory is fd.directory: the directory of a file, a directory's own
// name.
func fdDirectory(fd *event.FD) (Value, bool) {
	switch fd.Type {
	case event.FDDirectory:
		return nonEmptyV(fd.Name)
	case event.FDFile, event.FDMemfd:
		if fd.Name == "" {
			return Value{}, false
		}
		return str(dirOf(fd.Name))
	}
	return Value{}, false
}

// dirOf is path.Dir without its copy for the usual case: of a clean
// absolute path (as fd names are) the directory is a prefix of it.
func dirOf(name string) string {
	i := strings.LastIndexByte(name, '/')
	switch {
	case i == 0 && len(name) > 1:
		return "/"
	case i > 0 && i < len(name)-1 && name[0] == '/' && !strings.Contains(name, "//") && !strings.Contains(name, "/."):
		return name[:i]
	}
	return path.Dir(name)
}

func isSocket(fd *event.FD) bool {
	return fd.Type == event.FDIPv4 || fd.Type == event.FDIPv6
}

func addr(a netip.Addr) (Value, bool) {
	if !a.IsValid() {
		return Value{}, false
	}
	return Value{IP: a, Bits: a.BitLen()}, true
}

func localIP(fd *event.FD) netip.Addr {
	if fd.LocalIsServer {
		return fd.ServerIP
	}
	return fd.ClientIP
}

func remoteIP(fd *event.FD) netip.Addr {
	if fd.LocalIsServer {
		return fd.ClientIP
	}
	return fd.ServerIP
}

// ipFields registers an address field with both a single value (for
// outputs) and, when both is set, a condition form that matches either end.
// readable says whether a socket field may read the fd: a field that
// reads only the server end needs it known, the others need both ends.
func readable(fd *event.FD, serverEnd bool) bool {
	if fd == nil || !isSocket(fd) {
		return false
	}
	server, client := fd.Ends()
	return server && (serverEnd || client)
}

func ipField(name string, t Type, desc string, get func(fd *event.FD) netip.Addr, both, serverEnd bool) {
	register(&Field{Name: name, Type: t, Desc: desc, bind: func(string, bool) (Extractor, Multi, error) {
		ex := func(c *Ctx) (Value, bool) {
			if !readable(c.Evt.FD, serverEnd) {
				return Value{}, false
			}
			return addr(get(c.Evt.FD))
		}
		if !both {
			return ex, nil, nil
		}
		return ex, func(c *Ctx, t ValueTest) bool {
			fd := c.Evt.FD
			if !readable(fd, true) {
				return false
			}
			if _, client := fd.Ends(); client {
				if v, ok := addr(fd.ClientIP); ok && t.Test(v) {
					return true
				}
			}
			v, ok := addr(fd.ServerIP)
			return ok && t.Test(v)
		}, nil
	}})
}

func portField(name, desc string, get func(fd *event.FD) uint16, both, serverEnd bool) {
	register(&Field{Name: name, Type: Port, Desc: desc, bind: func(string, bool) (Extractor, Multi, error) {
		ex := func(c *Ctx) (Value, bool) {
			if !readable(c.Evt.FD, serverEnd) {
				return Value{}, false
			}
			return num(int64(get(c.Evt.FD)))
		}
		if !both {
			return ex, nil, nil
		}
		return ex, func(c *Ctx, t ValueTest) bool {
			fd := c.Evt.FD
			if !readable(fd, true) {
				return false
			}
			if _, client := fd.Ends(); client && t.Test(Value{N: int64(fd.ClientPort)}) {
				return true
			}
			return t.Test(Value{N: int64(fd.ServerPort)})
		}, nil
	}})
}

func init() {
	fdField("fd.num", Int64, "file descriptor number (-1 when the syscall failed)", func(c *Ctx, fd *event.FD) (Value, bool) { return num(fd.Num) })
	fdField("fd.type", String, "type of the file descriptor: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, timerfd, netlink, memfd", func(c *Ctx, fd *event.FD) (Value, bool) {
		if fd.Type == event.FDUnknown {
			return Value{}, false
		}
		return str(fd.Type.String())
	})
	fdField("fd.typechar", String, "type of the file descriptor as one character (f file, d directory, 4 ipv4, 6 ipv6, u unix, p pipe, ...)", func(c *Ctx, fd *event.FD) (Value, bool) {
		return str(fd.Type.Char())
	})
	fdField("fd.name", String, "full name of the file descriptor: the path of a file, or cip:cport->sip:sport for a socket", func(c *Ctx, fd *event.FD) (Value, bool) { return nonEmptyV(fd.Name) })
	fdField("fd.nameraw", String, "the path exactly as the syscall was given it, before any resolution", func(c *Ctx, fd *event.FD) (Value, bool) { return nonEmptyV(fd.NameRaw) })
	fdField("fd.directory", String, "directory of the file (the name itself for a directory)", func(c *Ctx, fd *event.FD) (Value, bool) {
		return fdDirectory(fd)
	})
	fdField("fd.filename", String, "file name without its directory", func(c *Ctx, fd *event.FD) (Value, bool) {
		if fd.Type != event.FDFile || fd.Name == "" {
			return Value{}, false
		}
		return str(path.Base(fd.Name))
	})
	fdField("fd.name_changed", Bool, "true when the event changed the name of the file descriptor", func(c *Ctx, fd *event.FD) (Value, bool) { return boolean(fd.NameChanged) })
	fdField("fd.dev", Uint64, "device number of the file", func(c *Ctx, fd *event.FD) (Value, bool) { return num(int64(fd.Dev)) })
	fdField("fd.dev.major", Uint64, "major device number of the file", func(c *Ctx, fd *event.FD) (Value, bool) { return num(int64(fd.Dev >> 20)) })
	fdField("fd.dev.minor", Uint64, "minor device number of the file", func(c *Ctx, fd *event.FD) (Value, bool) { return num(int64(fd.Dev & 0xfffff)) })
	fdField("fd.ino", Uint64, "inode number of the file", func(c *Ctx, fd *event.FD) (Value, bool) { return num(int64(fd.Ino)) })
	fdField("fd.is_upper_layer", Bool, "true when the file lives in an overlayfs upper layer", func(c *Ctx, fd *event.FD) (Value, bool) { return boolean(fd.Upper) })
	fdField("fd.is_lower_layer", Bool, "true when the file lives in an overlayfs lower layer (a container's image)", func(c *Ctx, fd *event.FD) (Value, bool) { return boolean(fd.Lower) })
	fdField("fd.containername", String, "container id and fd name joined by a colon", func(c *Ctx, fd *event.FD) (Value, bool) {
		id := container.HostID
		if c.Proc != nil {
			id = c.Proc.ShortContainerID()
		}
		return str(id + ":" + fd.Name)
	})
	fdField("fd.containerdirectory", String, "container id and fd.directory joined by a colon", func(c *Ctx, fd *event.FD) (Value, bool) {
		dir, ok := fdDirectory(fd)
		if !ok {
			return Value{}, false
		}
		id := container.HostID
		if c.Proc != nil {
			id = c.Proc.ShortContainerID()
		}
		return str(id + ":" + dir.S)
	})

	// Addresses and ports: none before a socket has a role (libsinsp);
	// a bound socket without a peer has only its server end.
	ipField("fd.ip", IPAddr, "an IP address of the connection: in a condition either end matches", func(fd *event.FD) netip.Addr { return fd.ServerIP }, true, true)
	ipField("fd.cip", IPAddr, "client IP address", func(fd *event.FD) netip.Addr { return fd.ClientIP }, false, false)
	ipField("fd.sip", IPAddr, "server IP address", func(fd *event.FD) netip.Addr { return fd.ServerIP }, false, true)
	ipField("fd.lip", IPAddr, "local IP address", localIP, false, false)
	ipField("fd.rip", IPAddr, "remote IP address", remoteIP, false, false)
	ipField("fd.net", IPNet, "an IP network of the connection: in a condition either end inside the network matches (fd.net=10.0.0.0/8)", func(fd *event.FD) netip.Addr { return fd.ServerIP }, true, true)
	ipField("fd.cnet", IPNet, "client IP address, compared as a member of a network", func(fd *event.FD) netip.Addr { return fd.ClientIP }, false, false)
	ipField("fd.snet", IPNet, "server IP address, compared as a member of a network", func(fd *event.FD) netip.Addr { return fd.ServerIP }, false, true)
	ipField("fd.lnet", IPNet, "local IP address, compared as a member of a network", localIP, false, false)
	ipField("fd.rnet", IPNet, "remote IP address, compared as a member of a network", remoteIP, false, false)
	portField("fd.port", "a port of the connection: in a condition either end matches", func(fd *event.FD) uint16 { return fd.ServerPort }, true, true)
	portField("fd.cport", "client port", func(fd *event.FD) uint16 { return fd.ClientPort }, false, false)
	portField("fd.sport", "server port", func(fd *event.FD) uint16 { return fd.ServerPort }, false, true)
	portField("fd.lport", "local port", func(fd *event.FD) uint16 {
		if fd.LocalIsServer {
			return fd.ServerPort
		}
		return fd.ClientPort
	}, false, false)
	portField("fd.rport", "remote port", func(fd *event.FD) uint16 {
		if fd.LocalIsServer {
			return fd.ClientPort
		}
		return fd.ServerPort
	}, false, false)
	fdField("fd.l4proto", String, "transport protocol of the socket: tcp, udp, icmp or raw; none before the socket has a role, except raw (as libsinsp)", func(c *Ctx, fd *event.FD) (Value, bool) {
		if !isSocket(fd) || fd.L4 == event.L4Unknown || fd.Role == event.RoleNone && fd.L4 != event.L4Raw {
			return Value{}, false
		}
		return str(fd.L4.String())
	})
	fdField("fd.sockfamily", String, "socket family: ip or unix", func(c *Ctx, fd *event.FD) (Value, bool) {
		switch fd.Type {
		case event.FDIPv4, event.FDIPv6:
			return str("ip")
		case event.FDUnix:
			return str("unix")
		}
		return Value{}, false
	})
	fdField("fd.is_server", Bool, "true when the process is the server end of the connection", func(c *Ctx, fd *event.FD) (Value, bool) {
		if !isSocket(fd) {
			return Value{}, false
		}
		return boolean(fd.LocalIsServer)
	})
	fdField("fd.connected", Bool, "true when the socket is connected", func(c *Ctx, fd *event.FD) (Value, bool) { return boolean(fd.Connected) })
	// Domain names: in a condition, the engine compares the address with
	// the DNS answers for the names given; extracted, they are the address.
	dnsName := func(name, desc string, get func(fd *event.FD) netip.Addr) {
		serverEnd := name == "fd.sip.name"
		simple(name, String, desc, func(c *Ctx) (Value, bool) {
			if !readable(c.Evt.FD, serverEnd) {
				return Value{}, false
			}
			a := get(c.Evt.FD)
			if !a.IsValid() {
				return Value{}, false
			}
			return Value{IP: a}, true
		})
	}
	dnsName("fd.cip.name", "client address, matched against domain names resolved by DNS (fd.cip.name=example.com)", func(fd *event.FD) netip.Addr { return fd.ClientIP })
	dnsName("fd.sip.name", "server address, matched against domain names resolved by DNS (fd.sip.name=example.com)", func(fd *event.FD) netip.Addr { return fd.ServerIP })
	dnsName("fd.lip.name", "local address, matched against domain names resolved by DNS", localIP)
	dnsName("fd.rip.name", "remote address, matched against domain names resolved by DNS", remoteIP)

	// Our own: the container whose root filesystem holds the file.
	fdField("fd.container.id", String, "truesight: id of the container whose root filesystem holds the file (host for the host's root); differs from container.id for writes through /proc/<pid>/root", func(c *Ctx, fd *event.FD) (Value, bool) {
		if fd.TargetContainer == "" {
			return Value{}, false
		}
		return str(container.ShortID(fd.TargetContainer))
	})
	fdField("fd.container.name", String, "truesight: name of the container whose root filesystem holds the file", func(c *Ctx, fd *event.FD) (Value, bool) {
		if fd.TargetContainer == container.HostID {
			return str(container.HostID)
		}
		if info := c.container(fd.TargetContainer); info != nil && info.Name != "" {
			return str(info.Name)
		}
		return Value{}, false
	})
	fdField("fd.container.image", String, "truesight: image of the container whose root filesystem holds the file", func(c *Ctx, fd *event.FD) (Value, bool) {
		if info := c.container(fd.TargetContainer); info != nil && info.Image != "" {
			return str(info.Image)
		}
		return Value{}, false
	})
	fdField("fd.container.path", String, "truesight: path of the file inside the root of the container that holds it, as the kernel resolved it live (symlinks, .. and /proc/<pid>/root followed); in replay, the path given, through /proc/<pid>/root", func(c *Ctx, fd *event.FD) (Value, bool) {
		return nonEmptyV(fd.TargetPath)
	})
	fdField("fd.cross_container", Bool, "truesight: true when the file lives in another container's root than the process's own (e.g. written through /proc/<pid>/root)", func(c *Ctx, fd *event.FD) (Value, bool) {
		if fd.TargetContainer == "" || c.Proc == nil {
			return Value{}, false
		}
		own := c.Proc.ContainerID
		if own == "" {
			own = container.HostID
		}
		return boolean(own != fd.TargetContainer)
	})

	// fs.path.*: paths of file-system syscalls that name files rather than
	// open them (rename, link, unlink, mkdir, ...).
	pathParam("fs.path.name", "path a file-system syscall acted on, resolved", []string{"path", "name", "filename", "oldpath", "linkpath"}, true)
	pathParam("fs.path.nameraw", "path a file-system syscall acted on, as given", []string{"path", "name", "filename", "oldpath", "linkpath"}, false)
	pathParam("fs.path.source", "source path of a rename, link or symlink, resolved", []string{"oldpath", "target"}, true)
	pathParam("fs.path.sourceraw", "source path of a rename, link or symlink, as given", []string{"oldpath", "target"}, false)
	pathParam("fs.path.target", "target path of a rename, link or symlink, resolved", []string{"newpath", "linkpath"}, true)
	pathParam("fs.path.targetraw", "target path of a rename, link or symlink, as given", []string{"newpath", "linkpath"}, false)
}

// pathParam extracts the first present parameter of names. Resolved forms
// use the kernel-resolved path of that argument when the event has one.
func pathParam(name, desc string, names []string, resolved bool) {
	simple(name, String, desc, func(c *Ctx) (Value, bool) {
		for _, n := range names {
			p, ok := c.Evt.Param(n)
			if !ok {
				continue
			}
			if resolved {
				i := 0
				if n == "newpath" || n == "linkpath" {
					i = 1
				}
				if r := c.Evt.Paths[i]; r != "" {
					return str(r)
				}
			}
			return nonEmptyV(p.Text)
		}
		return Value{}, false
	})
}

func (c *Ctx) container(id string) *container.Info {
	if id == "" || id == container.HostID || c.Containers == nil {
		return nil
	}
	return c.Containers(id)
}
