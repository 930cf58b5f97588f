package scan

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParsePreloadFileSplitsLikeTheLoader(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"one per line", "/lib/a.so\n/lib/b.so\n", []string{"/lib/a.so", "/lib/b.so"}},
		{"spaces tabs and colons", "/a.so /b.so\t/c.so:/d.so", []string{"/a.so", "/b.so", "/c.so", "/d.so"}},
		{"comment to end of line", "# header\n/a.so # trailing\n#/b.so\n", []string{"/a.so"}},
		{"no trailing newline", "/a.so", []string{"/a.so"}},
		{"bare name", "libhide.so\n", []string{"libhide.so"}},
		{"empty and blank", "\n \n\t\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parsePreloadFile([]byte(tc.in)); !slices.Equal(got, tc.want) {
				t.Errorf("parsePreloadFile(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParsePreloadEnvSeparators(t *testing.T) {
	if got := parsePreloadEnv("/a.so /b.so:/c.so", false); !slices.Equal(got, []string{"/a.so", "/b.so", "/c.so"}) {
		t.Errorf("LD_PRELOAD split %q", got)
	}
	// LD_AUDIT is split by colons only.
	if got := parsePreloadEnv("/a b.so:/c.so", true); !slices.Equal(got, []string{"/a b.so", "/c.so"}) {
		t.Errorf("LD_AUDIT split %q", got)
	}
}

func TestParseEnvTakesLoaderVariablesFirstOccurrence(t *testing.T) {
	env := parseEnv([]byte("PATH=/bin\x00LD_PRELOAD=/x.so\x00LD_PRELOAD=/y.so\x00LD_AUDIT=/a.so\x00LD_LIBRARY_PATH=/opt\x00LD_X=1\x00"))
	if env.Preload != "/x.so" || env.Audit != "/a.so" || env.LibraryPath != "/opt" || !env.injects() {
		t.Errorf("parseEnv = %+v", env)
	}
	if got := env.vars(); !slices.Equal(got, []string{"LD_PRELOAD=/x.so", "LD_AUDIT=/a.so", "LD_LIBRARY_PATH=/opt"}) {
		t.Errorf("vars = %q", got)
	}
	if e := parseEnv([]byte("LD_PRELOAD= : \x00")); e.injects() {
		t.Errorf("an LD_PRELOAD of separators only injects nothing, got %+v", e)
	}
	if e := parseEnv([]byte("LD_LIBRARY_PATH=/opt\x00")); e.injects() {
		t.Errorf("LD_LIBRARY_PATH alone injects nothing, got %+v", e)
	}
}

func TestCandidatePathsFollowTheLoaderSearch(t *testing.T) {
	if got := candidatePaths("/usr/lib/../lib/x.so", nil); !slices.Equal(got, []string{"/usr/lib/x.so"}) {
		t.Errorf("absolute: %q", got)
	}
	if got := candidatePaths("rel/x.so", nil); len(got) != 0 {
		t.Errorf("a relative path with a slash is not searched: %q", got)
	}
	got := candidatePaths("libx.so", []string{"/opt/lib", "relative"})
	if got[0] != "/opt/lib/libx.so" || got[1] != "/lib/x86_64-linux-gnu/libx.so" || slices.Contains(got, "relative/libx.so") {
		t.Errorf("bare name: %q", got)
	}
	if got := candidatePaths("/usr/$LIB/x.so", nil); !slices.Equal(got, []string{"/usr/lib/x86_64-linux-gnu/x.so", "/usr/lib64/x.so", "/usr/lib/x.so"}) {
		t.Errorf("$LIB: %q", got)
	}
}

func TestParseLdConfFollowsIncludes(t *testing.T) {
	files := map[string]string{
		"/etc/ld.so.conf":               "include /etc/ld.so.conf.d/*.conf\n# comment\n/opt/a\n",
		"/etc/ld.so.conf.d/x86.conf":    "# multiarch\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n",
		"/etc/ld.so.conf.d/evil.conf":   "/tmp/evil, /opt/b:/opt/c\nhwcap 0 nosegneg\ninclude more/*.conf\n",
		"/etc/ld.so.conf.d/more/m.conf": "/opt/m\ninclude /etc/ld.so.conf\n",
	}
	read := func(p string) ([]byte, bool) { b, ok := files[p]; return []byte(b), ok }
	glob := func(pat string) []string {
		var out []string
		for p := range files {
			if ok, _ := filepath.Match(pat, p); ok {
				out = append(out, p)
			}
		}
		slices.Sort(out)
		return out
	}
	c := parseLdConf("/etc/ld.so.conf", read, glob)
	want := []string{"/tmp/evil", "/opt/b", "/opt/c", "/opt/m", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/opt/a"}
	if !slices.Equal(c.Dirs, want) {
		t.Errorf("dirs %q, want %q", c.Dirs, want)
	}
	if len(c.Files) != 4 {
		t.Errorf("files %q: every file once, the include cycle cut", c.Files)
	}
}

func TestParseStatWithHostileComm(t *testing.T) {
	line := "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 100\n"
	st, ok := parseStat([]byte(line))
	if !ok || st.Comm != "a) b (c" || st.State != 'S' || st.PPid != 1 || st.StartTicks != 98765 || st.Flags != 4194560 {
		t.Errorf("parseStat = %+v, %v", st, ok)
	}
	if _, ok := parseStat([]byte("1234 (x")); ok {
		t.Error("a truncated stat line parsed")
	}
}

func TestParseStatusNamespacePids(t *testing.T) {
	st := parseStatus([]byte("Name:\tsh\nTgid:\t4242\nUid:\t101\t101\t101\t101\nGid:\t102\t102\t102\t102\nNSpid:\t4242\t7\n"))
	if st.Tgid != 4242 || st.UID != 101 || st.GID != 102 || !slices.Equal(st.NSpid, []int{4242, 7}) {
		t.Errorf("parseStatus = %+v", st)
	}
}

func TestParseMapsKeepsExecutableFileMappingsOnce(t *testing.T) {
	maps := "" +
		"55d0c0000000-55d0c0002000 r--p 00000000 fd:01 131 /usr/bin/sleep\n" +
		"55d0c0002000-55d0c0006000 r-xp 00002000 fd:01 131 /usr/bin/sleep\n" +
		"7f0000000000-7f0000001000 r-xp 00001000 00:2d 77 /tmp/lib x.so (deleted)\n" +
		"7f0000001000-7f0000002000 r-xp 00002000 00:2d 77 /tmp/lib x.so (deleted)\n" +
		"7f0000100000-7f0000200000 r-xp 00000000 00:00 0 \n" +
		"7ffd0000000-7ffd0001000 r-xp 00000000 00:00 0 [vdso]\n" +
		"7f0000300000-7f0000301000 r-xp 00000000 00:01 99 /memfd:x (deleted)\n"
	got := parseMaps([]byte(maps), nil)
	want := []mapping{
		{Range: "55d0c0002000-55d0c0006000", Dev: unix.Mkdev(0xfd, 1), Ino: 131, Path: "/usr/bin/sleep"},
		{Range: "7f0000000000-7f0000001000", Dev: unix.Mkdev(0, 0x2d), Ino: 77, Path: "/tmp/lib x.so", Deleted: true},
		{Range: "7f0000300000-7f0000301000", Dev: unix.Mkdev(0, 1), Ino: 99, Path: "/memfd:x", Deleted: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseMaps =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseListingTakesLeadingNumbers(t *testing.T) {
	out := "  PID TTY\n    1 ?\n   42\n.\n..\n17\nself\nthread-self\n0\n"
	if got := parseListing([]byte(out)); !slices.Equal(got, []int{1, 42, 17}) {
		t.Errorf("parseListing = %v", got)
	}
}

func TestParseDirentsReadsNumericNames(t *testing.T) {
	var buf []byte
	add := func(name string) {
		reclen := (19 + len(name) + 1 + 7) &^ 7
		rec := make([]byte, reclen)
		binary.LittleEndian.PutUint16(rec[16:], uint16(reclen))
		copy(rec[19:], name)
		buf = append(buf, rec...)
	}
	for _, n := range []string{".", "..", "1", "self", "4194303", "12a", "99"} {
		add(n)
	}
	var got []int
	parseDirents(buf, func(p int) { got = append(got, p) })
	if !slices.Equal(got, []int{1, 4194303, 99}) {
		t.Errorf("parseDirents = %v", got)
	}
}

func TestParseBlindSpot(t *testing.T) {
	b, err := ParseBlindSpot("1:process_api")
	if err != nil || b != (BlindSpot{PID: 1, Comm: "process_api"}) || b.String() != "1:process_api" {
		t.Errorf("ParseBlindSpot = %+v, %v", b, err)
	}
	for _, bad := range []string{"", "1", "x:y", "0:init", "1:", ":sh"} {
		if _, err := ParseBlindSpot(bad); err == nil {
			t.Errorf("ParseBlindSpot(%q) accepted", bad)
		}
	}
}

func TestViewsText(t *testing.T) {
	v := views{Kernel: false, Procfs: true, Probe: true}
	if got := v.text(true); got != "seen by procfs,probe; missing from kernel" {
		t.Errorf("text = %q", got)
	}
	v = views{Kernel: true, Procfs: false, Probe: true}
	if got := v.text(true); got != "seen by kernel,probe; missing from procfs" {
		t.Errorf("text = %q", got)
	}
}

func TestPidSetGrowsPastPidMax(t *testing.T) {
	s := newPidSet(32768)
	// A process started before pid_max was lowered keeps a larger PID.
	for _, p := range []int{1, 63, 64, 32767, 4194303} {
		s.add(p)
	}
	for _, p := range []int{1, 63, 64, 32767, 4194303} {
		if !s.has(p) {
			t.Errorf("missing %d", p)
		}
	}
	for _, p := range []int{0, 2, 65, 32768, 4194302, 4194304, -1} {
		if s.has(p) {
			t.Errorf("has %d", p)
		}
	}
	var got []int
	s.each(func(p int) { got = append(got, p) })
	if !slices.Equal(got, []int{1, 63, 64, 32767, 4194303}) {
		t.Errorf("each = %v", got)
	}
}

// buildExports compiles testdata/exports.c with extra linker flags.
func buildExports(t *testing.T, name string, flags ...string) string {
	t.Helper()
	requireGCC(t)
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"-shared", "-fPIC", "-Wl,-soname,libexports.so.1", "-o", out, "testdata/exports.c"}, flags...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	return out
}

func analyseFile(t *testing.T, path string) *library {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFD(fd)
	lib, err := newLibraryCache().analyse(fd, true)
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

// The dynamic symbols are read the way the loader finds them, through
// PT_DYNAMIC and the hash tables, so a library without section headers
// (as sstrip leaves it) is read the same.
func TestDynamicExportsWithoutSectionHeaders(t *testing.T) {
	gnu := buildExports(t, "gnu.so")
	sysv := buildExports(t, "sysv.so", "-Wl,--hash-style=sysv")
	stripped := filepath.Join(t.TempDir(), "stripped.so")
	b, err := os.ReadFile(gnu)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(b[0x28:], 0) // e_shoff
	binary.LittleEndian.PutUint16(b[0x3c:], 0) // e_shnum
	binary.LittleEndian.PutUint16(b[0x3e:], 0) // e_shstrndx
	if err := os.WriteFile(stripped, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{gnu, sysv, stripped} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			lib := analyseFile(t, p)
			syms := slices.Sorted(slices.Values(lib.Symbols))
			if lib.Err != nil || lib.Soname != "libexports.so.1" || !slices.Equal(syms, []string{"fopen", "stat"}) || lib.Exports != 4 || lib.HidesDirs {
				t.Errorf("analysis %+v", lib)
			}
			if lib.SHA256 != fileSHA256(t, p) {
				t.Errorf("sha256 %s", lib.SHA256)
			}
		})
	}
}

func TestDynamicExportsOfRealLibcAndStaticProgram(t *testing.T) {
	libc := "/lib/x86_64-linux-gnu/libc.so.6"
	if _, err := os.Stat(libc); err != nil {
		t.Skipf("no glibc at %s", libc)
	}
	lib := analyseFile(t, libc)
	if lib.Soname != "libc.so.6" || !lib.HidesDirs || lib.Exports < minRuntimeExports || !slices.Contains(lib.Symbols, "readdir64") {
		t.Errorf("libc: soname %q, %d exports, symbols %v, err %v", lib.Soname, lib.Exports, lib.Symbols, lib.Err)
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox")
	}
	lib = analyseFile(t, busybox)
	if lib.Err != nil || len(lib.Symbols) != 0 || lib.Exports != 0 {
		t.Errorf("static busybox: %+v", lib)
	}
	text := filepath.Join(t.TempDir(), "text")
	if err := os.WriteFile(text, []byte("not an ELF file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if lib := analyseFile(t, text); lib.Err == nil {
		t.Errorf("a text file analysed without error: %+v", lib)
	}
}
