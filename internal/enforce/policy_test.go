package enforce_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/enforce"
)

func TestTheDefaultPolicyProtectsTheLoadersConfigurationAndTheLoaders(t *testing.T) {
	p, _ := policy(t)
	for _, tc := range []struct {
		path, entry string
	}{
		{"/etc/ld.so.preload", "/etc/ld.so.preload"},
		{"/etc/ld.so.conf", "/etc/ld.so.conf"},
		{"/etc/ld.so.conf.d/libc.conf", "/etc/ld.so.conf.d/**"},
		{"/etc/ld.so.conf.d/sub/x.conf", "/etc/ld.so.conf.d/**"},
		{"/lib64/ld-linux-x86-64.so.2", "/lib64/ld-*"},
		{"/lib/ld-musl-x86_64.so.1", "/lib/ld-*"},
		{"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/lib/*/ld-*"},
		{"/etc/ld.so.conf.d", ""}, // the directory itself: listing it is fine
		{"/etc/ld.so.preload.bak", ""},
		{"/etc/passwd", ""},
		{"/usr/lib/x86_64-linux-gnu/libc.so.6", ""},
		{"/lib/x86_64-linux-gnu/sub/ld-x", ""},
	} {
		entry, ok := p.Match(tc.path)
		if entry != tc.entry || ok != (tc.entry != "") {
			t.Errorf("Match(%s) = %q, %v; want %q", tc.path, entry, ok, tc.entry)
		}
	}
}

func TestSelectorsPickContainersByEveryFieldGiven(t *testing.T) {
	p, _ := policy(t, "truesight.enforce.selectors=[{namespace: prod, labels: {app: web-*}}, {image: 'nginx:*'}]")
	for _, tc := range []struct {
		name string
		c    container.Info
		want bool
	}{
		{"namespace and label", container.Info{PodNamespace: "prod", PodLabels: map[string]string{"app": "web-1"}}, true},
		{"label on the container", container.Info{PodNamespace: "prod", Labels: map[string]string{"app": "web-2"}}, true},
		{"other namespace", container.Info{PodNamespace: "dev", PodLabels: map[string]string{"app": "web-1"}}, false},
		{"no label", container.Info{PodNamespace: "prod"}, false},
		{"image", container.Info{Image: "nginx:1.25"}, true},
		{"other image", container.Info{Image: "busybox:1"}, false},
	} {
		if got := p.Selects(&tc.c); got != tc.want {
			t.Errorf("%s: Selects = %v, want %v", tc.name, got, tc.want)
		}
	}
	none, _ := policy(t, "truesight.enforce.containers=false")
	if none.Selects(&container.Info{Name: "x"}) {
		t.Error("containers: false still selects a container")
	}
}

func TestOpenFlagsThatWrite(t *testing.T) {
	for _, tc := range []struct {
		flags uint64
		want  enforce.Intent
	}{
		{unix.O_RDONLY, enforce.IntentRead},
		{unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW, enforce.IntentRead},
		{unix.O_WRONLY | unix.O_APPEND | unix.O_CREAT, enforce.IntentWrite},
		{unix.O_RDWR, enforce.IntentWrite},
		{unix.O_RDONLY | unix.O_TRUNC, enforce.IntentWrite}, // truncates on Linux
		{unix.O_RDONLY | unix.O_CREAT, enforce.IntentWrite},
	} {
		if got := enforce.IntentOf(tc.flags); got != tc.want {
			t.Errorf("IntentOf(%#x) = %v, want %v", tc.flags, got, tc.want)
		}
	}
}

func TestParseSyscallReadsTheNumberAndArguments(t *testing.T) {
	sc, err := enforce.ParseSyscall([]byte("257 0xffffff9c 0x14f27d38 0x441 0x1b6 0x0 0x5e2740 0x7ffceedaba80 0x47b5e1\n"))
	if err != nil || sc.Nr != 257 || sc.Args[0] != 0xffffff9c || sc.Args[2] != 0x441 || sc.Args[5] != 0x5e2740 {
		t.Fatalf("ParseSyscall = %+v, %v", sc, err)
	}
	for _, bad := range []string{"", "running\n", "-1 0x7ffc 0x47b5e1\n", "257 0x1 0x2\n", "x 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8", "2 1 2 3 4 5 6 7 8"} {
		if sc, err := enforce.ParseSyscall([]byte(bad)); err == nil {
			t.Errorf("ParseSyscall(%q) = %+v, want an error", bad, sc)
		}
	}
}

func FuzzParseSyscall(f *testing.F) {
	f.Add([]byte("257 0xffffff9c 0x14f27d38 0x441 0x1b6 0x0 0x5e2740 0x7ffceedaba80 0x47b5e1\n"))
	f.Add([]byte("59 0xc0001b4e28 0xc000024680 0xc00013f860 0x0 0x0 0x0 0xc00015b8c8 0x40828e"))
	f.Add([]byte("running"))
	f.Add([]byte("-1 0x7ffc 0x1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := enforce.ParseSyscall(b)
		if err == nil && sc.Nr < 0 {
			t.Fatalf("negative syscall number %d accepted", sc.Nr)
		}
	})
}

func BenchmarkMatchUnprotected(b *testing.B) {
	p, _ := policy(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := p.Match("/usr/lib/x86_64-linux-gnu/libc.so.6"); ok {
			b.Fatal("matched")
		}
	}
}
