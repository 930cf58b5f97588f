package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/truesightsec/truesight/internal/fim"
	"github.com/truesightsec/truesight/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuiltImages()
	os.Exit(code)
}

// fimImage has two layers: the busybox test image and one adding an empty
// /etc/ld.so.preload, a library and /usr/local/bin.
const fimImage = "localhost/ts-fim-cli-img:latest"

const fimImageFile = "FROM " + testenv.Image + "\nRUN mkdir -p /usr/local/bin /usr/lib && touch /etc/ld.so.preload && echo lib1 > /usr/lib/libfoo.so.1\n"

// fimRun runs the truesight binary and returns stdout, stderr and the
// exit code.
func fimRun(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestFimCheckReportsEachContainersDriftWithItsNameAndImageAndExitsByResult(t *testing.T) {
	testenv.BuildImage(t, fimImage, fimImageFile)
	sock := testenv.PodmanService(t)
	bin := testenv.Truesight(t)
	dir := t.TempDir()
	hostEtc := filepath.Join(dir, "etc")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(hostEtc, "cron.d"), 0o755))
	must(os.WriteFile(filepath.Join(hostEtc, "hosts"), []byte("127.0.0.1 localhost\n"), 0o644))
	// Two containers of the busybox image, two of fimImage (on top of it).
	// Other containers on the machine are left out with --container.
	testenv.StartContainer(t, "ts-fim-cli-bb1", nil, "sleep", "1000")
	testenv.StartContainer(t, "ts-fim-cli-bb2", nil, "sleep", "1000")
	a := fimContainer(t, "ts-fim-cli-a")
	fimContainer(t, "ts-fim-cli-b")
	common := []string{"--path", hostEtc, "--db", filepath.Join(dir, "fim.db"), "--key", filepath.Join(dir, "fim.key"), "--docker-socket", sock,
		"--containerd-socket=", "--cri-socket=", "--container", "ts-fim-cli-bb1", "--container", "ts-fim-cli-bb2",
		"--container", "ts-fim-cli-a", "--container", "ts-fim-cli-b"}

	out, errs, code := fimRun(t, bin, append([]string{"fim", "init"}, common...)...)
	if code != 0 || !strings.Contains(out, "baselined host "+hostEtc) || strings.Count(out, "baselined layer ") != 2 {
		// Two layers: the busybox image's (shared by all four) and
		// fimImage's own.
		t.Fatalf("init exit %d:\n%s%s", code, out, errs)
	}
	out, errs, code = fimRun(t, bin, append([]string{"fim", "check"}, common...)...)
	if code != 0 || !strings.HasPrefix(out, "0 changes: 0 of 4 containers drifted") {
		t.Fatalf("check of a clean node: exit %d:\n%s%s", code, out, errs)
	}

	testenv.Podman(t, "exec", a, "sh", "-c", strings.Join([]string{
		"echo /usr/local/lib/x.so >> /etc/ld.so.preload",
		"echo x > /usr/local/bin/x && chmod 755 /usr/local/bin/x",
		"chmod u+s /bin/busybox",
		"rm /etc/passwd",
		"echo lib2 > /usr/lib/libfoo.so.1.new && mv /usr/lib/libfoo.so.1.new /usr/lib/libfoo.so.1",
	}, " && "))
	must(os.WriteFile(filepath.Join(hostEtc, "cron.d", "job"), []byte("* * * * * root /tmp/x\n"), 0o644))

	out, errs, code = fimRun(t, bin, append([]string{"fim", "check", "--format", "json"}, common...)...)
	if code != 1 {
		t.Fatalf("check with drift: exit %d, want 1:\n%s%s", code, out, errs)
	}
	var rep fim.Report
	must(json.Unmarshal([]byte(out), &rep))
	want := map[string]fim.Kind{"/etc/ld.so.preload": fim.Modified, "/usr/local/bin/x": fim.Added, "/bin/busybox": fim.Metadata,
		"/etc/passwd": fim.Deleted, "/usr/lib/libfoo.so.1": fim.Modified}
	for _, c := range rep.Containers {
		got := map[string]fim.Kind{}
		for _, ch := range c.Changes {
			got[ch.Path] = ch.Kind
		}
		if c.ID != a {
			if len(c.Changes) != 0 {
				t.Errorf("container %s %s has changes: %v", c.Name, c.ID, got)
			}
			continue
		}
		if c.Name != "ts-fim-cli-a" || c.Image != fimImage {
			t.Errorf("drifted container named %q, image %q", c.Name, c.Image)
		}
		if len(got) != len(want) {
			t.Errorf("changes %v, want %v", got, want)
		}
		for p, k := range want {
			if got[p] != k {
				t.Errorf("%s: %q, want %q", p, got[p], k)
			}
		}
	}
	if len(rep.Containers) != 4 || len(rep.Layers) != 0 || len(rep.Hosts) != 1 || len(rep.Hosts[0].Changes) != 1 ||
		rep.Hosts[0].Changes[0].Path != "/cron.d/job" || rep.Hosts[0].Changes[0].Kind != fim.Added {
		t.Errorf("report: %d containers, layers %+v, hosts %+v", len(rep.Containers), rep.Layers, rep.Hosts)
	}

	out, _, code = fimRun(t, bin, append([]string{"fim", "check"}, common...)...)
	if code != 1 || !strings.Contains(out, "container "+a[:12]+" ts-fim-cli-a (image "+fimImage+")\n") ||
		!strings.Contains(out, "  metadata  /bin/busybox  mode 0755 -> 4755\n") ||
		!strings.Contains(out, "  added     "+filepath.Join(hostEtc, "cron.d/job")) {
		t.Errorf("text report (exit %d):\n%s", code, out)
	}

	// Accepting is explicit, logged and leaves the accepted change out.
	out, errs, code = fimRun(t, bin, append([]string{"fim", "update", "--accept", "ts-fim-cli-a:/usr/local/bin/x", "--accept", filepath.Join(hostEtc, "cron.d/job")}, common...)...)
	if code != 0 || strings.Count(out, "accepted ") != 2 {
		t.Fatalf("update: exit %d\n%s%s", code, out, errs)
	}
	out, _, _ = fimRun(t, bin, append([]string{"fim", "check", "--format", "json"}, common...)...)
	if strings.Contains(out, "/usr/local/bin/x") || strings.Contains(out, "cron.d/job") || !strings.Contains(out, "/etc/ld.so.preload") {
		t.Errorf("after accepting:\n%s", out)
	}
	out, _, code = fimRun(t, bin, "fim", "show", "--db", filepath.Join(dir, "fim.db"), "--key", filepath.Join(dir, "fim.key"))
	if code != 0 || strings.Count(out, " accept ") != 2 || strings.Count(out, "layer ") != 2 {
		t.Errorf("show: exit %d\n%s", code, out)
	}
}

// fimContainer runs a container of fimImage that sleeps; it returns its id.
func fimContainer(t *testing.T, name string, extra ...string) string {
	t.Helper()
	return testenv.StartContainerOf(t, fimImage, name, extra, "sleep", "1000")
}

func TestFimCheckReportsAHandEditedRecordAndATruncatedDatabaseIsExit2(t *testing.T) {
	bin := testenv.Truesight(t)
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "fim.db")
	common := []string{"--path", etc, "--db", db, "--key", filepath.Join(dir, "fim.key"), "--no-containers"}
	if out, errs, code := fimRun(t, bin, append([]string{"fim", "init"}, common...)...); code != 0 {
		t.Fatalf("init: %d\n%s%s", code, out, errs)
	}
	// Give /passwd the setuid bit in the database, by hand.
	bdb, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("entries")).Bucket([]byte(fim.HostID(etc)))
		v := bk.Get([]byte("/passwd"))
		return bk.Put([]byte("/passwd"), bytes.Replace(v, []byte(`"mode":420`), []byte(`"mode":2541`), 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
	out, errs, code := fimRun(t, bin, append([]string{"fim", "check"}, common...)...)
	if code != 1 || !strings.Contains(out, "  tampered  "+filepath.Join(etc, "passwd")+"  record \"/passwd\" of entries/"+fim.HostID(etc)+": HMAC does not verify") {
		t.Errorf("check of a tampered record: exit %d\n%s%s", code, out, errs)
	}
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, data[:3*4096], 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code = fimRun(t, bin, append([]string{"fim", "check"}, common...)...)
	if code != 2 || !strings.Contains(errs, "FIM database is corrupt: "+db+": truncated") || strings.Contains(errs, "panic") {
		t.Errorf("check of a truncated database: exit %d\n%s%s", code, out, errs)
	}
}
