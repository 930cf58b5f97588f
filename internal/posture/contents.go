package posture

import (
	"os"
	"path"
	"regexp"
	"slices"

	"golang.org/x/sys/unix"
)

// Contents is what a root filesystem holds of what the preload attack
// needs: a dynamic loader to poison, a shell to write with, a package
// manager to bring tools. Paths are inside the root.
type Contents struct {
	Loaders         []string `json:"loaders"`
	Shells          []string `json:"shells"`
	PackageManagers []string `json:"package_managers"`
	// Err is set when the root could not be opened.
	Err string `json:"error,omitempty"`
}

var loaderDirs = []string{"/lib", "/lib64", "/lib32", "/usr/lib", "/usr/lib64", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"}

var loaderName = regexp.MustCompile(`^(ld-linux[-.a-z0-9_]*\.so(\.[0-9]+)*|ld-musl-[a-z0-9_]+\.so\.1|ld64\.so\.[0-9]+|ld\.so\.[0-9]+)$`)

var binDirs = []string{"/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin"}

var shellNames = []string{"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox"}

var packageManagers = []string{"apt", "apt-get", "dpkg", "apk", "yum", "dnf", "microdnf", "rpm", "zypper", "pacman", "tdnf"}

// InspectRoot looks into the root filesystem at root (a container's
// /proc/<pid>/root, or an image mounted by its runtime). Paths are
// resolved inside the root (openat2 RESOLVE_IN_ROOT), so absolute
// symbolic links of the image do not lead to the host's files. A path
// reached through a symbolic link counts once, by its first name.
func InspectRoot(root string) Contents {
	var c Contents
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		c.Err = err.Error()
		return c
	}
	defer func() { _ = unix.Close(rfd) }()
	// exists reports whether p is a regular file (after links, in the
	// root) not seen before in seen under another name. Each kind has its
	// own seen set: a busybox that is both sh and dpkg counts as both.
	exists := func(seen map[[2]uint64]bool, p string) bool {
		fd, err := unix.Openat2(rfd, p, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
		if err != nil {
			return false
		}
		defer func() { _ = unix.Close(fd) }()
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return false
		}
		k := [2]uint64{st.Dev, st.Ino}
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	loaders, shells, pkgs := map[[2]uint64]bool{}, map[[2]uint64]bool{}, map[[2]uint64]bool{}
	for _, d := range loaderDirs {
		for _, n := range listDir(rfd, d) {
			if loaderName.MatchString(n) && exists(loaders, path.Join(d, n)) {
				c.Loaders = append(c.Loaders, path.Join(d, n))
			}
		}
	}
	for _, d := range binDirs {
		for _, n := range shellNames {
			if exists(shells, path.Join(d, n)) {
				c.Shells = append(c.Shells, path.Join(d, n))
			}
		}
		for _, n := range packageManagers {
			if exists(pkgs, path.Join(d, n)) {
				c.PackageManagers = append(c.PackageManagers, path.Join(d, n))
			}
		}
	}
	return c
}

// listDir lists the names in directory d of the root rfd.
func listDir(rfd int, d string) []string {
	fd, err := unix.Openat2(rfd, d, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), d)
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	slices.Sort(names)
	return names
}
