package console

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/truesightsec/truesight/internal/testenv"
)

// chromiumPath is Debian's chromium (scripts/deps.sh installs it).
const chromiumPath = "/usr/bin/chromium"

// browser is a headless chromium driven over the DevTools protocol, with
// what the page did that it must not: dialogs opened (alert(), the
// payload of every hostile string here) and uncaught script errors.
type browser struct {
	ctx context.Context

	mu         sync.Mutex
	dialogs    []string
	exceptions []string
	shots      string // the directory screenshots go to
}

// artifactDir is where a test's screenshots go: $TRUESIGHT_ARTIFACTS/<test>
// when set, else the test's artifact directory (kept with go test
// -artifacts, a temporary one without).
func artifactDir(t *testing.T) string {
	if d := os.Getenv("TRUESIGHT_ARTIFACTS"); d != "" {
		dir := filepath.Join(d, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.ArtifactDir()
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		testenv.Missing(t, "chromium is not installed (apt-get install chromium; scripts/deps.sh): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, // root: chromium's sandbox refuses to run as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{shots: artifactDir(t)}
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch e := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			b.mu.Lock()
			b.dialogs = append(b.dialogs, e.Message)
			b.mu.Unlock()
		case *runtime.EventExceptionThrown:
			msg := e.ExceptionDetails.Text
			if x := e.ExceptionDetails.Exception; x != nil {
				msg += " " + x.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, msg)
			b.mu.Unlock()
		}
	}))
	b.ctx = ctx
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// A dialog blocks the page: close each (they are counted above).
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return b
}

// do runs actions with a timeout.
func (b *browser) do(t *testing.T, what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.screenshot(t, "failed")
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// screenshot saves the whole page as name.png.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Errorf("save screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", p)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.screenshot(t, "failed")
		t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript expression until it is true.
func (b *browser) waitFor(t *testing.T, what, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !eval[bool](t, b, "!!("+expr+")") {
		if time.Now().After(deadline) {
			b.screenshot(t, "failed")
			t.Fatalf("browser: %s: not within %v (%s)", what, timeout, expr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clean says the page ran no hostile script and threw nothing.
func (b *browser) clean(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.dialogs) > 0 {
		t.Errorf("the page opened dialogs (a hostile string ran as script): %q", b.dialogs)
	}
	if len(b.exceptions) > 0 {
		t.Errorf("the page threw: %q", b.exceptions)
	}
}

// js quotes s as a JavaScript string.
func js(s string) string { return strconv.Quote(s) }

// Hostile text: a process name and a file path that are markup.
const (
	hostileProcess = "<img src=x onerror=alert(1)>"
	hostileComm    = "<img src=x oner" // the kernel keeps 15 bytes of a name
)

// The seed scenario in a real browser: a pod whose containers share a
// PID namespace, under a real `truesight run` with the console. The page
// is open when the attacker in "nginx" copies a real readdir-hooking
// library into the sidecar's root and lists it in the sidecar's
// /etc/ld.so.preload through /proc/<pid>/root: the alert arrives on the
// page live, the containers view shows the sidecar's findings of every
// kind the attack leaves (the preload file, the injected library, the
// library in a program's environment, the hidden process), and the
// sidecar's process tree marks the miner its ps no longer shows, with
// the library, its sha256 and the symbols it overrides. A process named
// as markup and a file path with quotes, newlines and markup render as
// text: no element made of them, no script run. Screenshots of each
// view go to the test's artifacts.
func TestBrowserSeedScenario(t *testing.T) {
	testenv.RequireDynamicImage(t)
	const miner = "tsc_miner"
	dir := t.TempDir()
	lib, libSum := testenv.BuildHider(t, dir, miner)
	sock := testenv.PodmanService(t)
	b := newBrowser(t)

	suffix := strconv.Itoa(os.Getpid())
	hostilePath := filepath.Join(os.TempDir(), "ts-console-hostile-"+suffix+"-\"dq\" 'sq'\n<svg onload=alert(2)>&amp;")
	t.Cleanup(func() { _ = os.Remove(hostilePath) })
	a := startAgent(t, probeRule(filepath.Join(os.TempDir(), "ts-console-hostile-"+suffix)), sock)

	pod := "ts-console-pod-" + suffix
	_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run()
	testenv.Podman(t, "pod", "create", "--name", pod, "--share", "pid")
	t.Cleanup(func() { _ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run() })
	run := func(name string, args ...string) string {
		name = "ts-console-" + name + "-" + suffix
		_ = exec.Command("podman", "rm", "-f", "-t", "0", name).Run()
		id := testenv.Podman(t, append([]string{"run", "-d", "--name", name, "--pod", pod, testenv.DynamicImage}, args...)...)
		t.Cleanup(func() { _ = exec.Command("podman", "rm", "-f", "-t", "0", id).Run() })
		return id
	}
	sidecar := run("sidecar", "sh", "-c", "while true; do /usr/bin/ps -A >/dev/null; /usr/bin/sleep 1; done")
	nginx := run("nginx", "sh", "-c", "cp /usr/bin/sleep /tmp/"+miner+" && exec /tmp/"+miner+" 1000")
	minerPid := testenv.WaitContainerProc(t, nginx, miner)
	testenv.Podman(t, "exec", "-d", nginx, "sh", "-c", `cp /usr/bin/sleep "/tmp/$1" && exec "/tmp/$1" 1000`, "sh", hostileProcess)
	hostilePid := testenv.WaitContainerProc(t, nginx, hostileComm)
	sidecarShort := sidecar[:12]

	// The page, open before the attack.
	b.do(t, "open the token link", 30*time.Second,
		chromedp.Navigate(a.url+"/ui/?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS("#live.on")))
	loc := eval[string](t, b, "location.href")
	if loc != a.url+"/ui/" {
		t.Errorf("after the token link the page is at %q, want %s/ui/ (the token out of the address bar)", loc, a.url)
	}

	// The attack: from nginx, into the sidecar's root.
	target := "/proc/" + strconv.Itoa(testenv.NSPid(t, testenv.ContainerPid(t, sidecar))) + "/root"
	testenv.Podman(t, "cp", lib, nginx+":/tmp/libx.so")
	testenv.Podman(t, "exec", nginx, "sh", "-c", "cp /tmp/libx.so "+target+"/tmp/libx.so && echo /tmp/libx.so > "+target+"/etc/ld.so.preload")
	// And a program of the sidecar started with the library in its
	// environment (the scenario's step 4).
	testenv.Podman(t, "exec", "-d", sidecar, "env", "LD_PRELOAD=/tmp/libx.so", "/usr/bin/sleep", "1000")
	if out := testenv.Podman(t, "exec", sidecar, "ps", "-A", "-o", "comm="); strings.Contains(out, miner) {
		t.Fatalf("the sidecar's ps still shows %s: the hider does not work:\n%s", miner, out)
	}

	const rule = "Modify ld.so.preload of another container"
	row := `document.querySelector('tr.alert.new[data-rule=` + js(rule) + `]')`
	b.waitFor(t, "the attack's alert arrives live", row, 10*time.Second)
	rowText := eval[string](t, b, row+".textContent")
	if !strings.Contains(rowText, "ts-console-nginx-"+suffix) && !strings.Contains(rowText, nginx[:12]) {
		t.Errorf("the alert row %q does not name the attacker's container", rowText)
	}
	b.do(t, "open the alert", 10*time.Second, chromedp.Click(chromedp.CSS(`tr.alert.new[data-rule="`+rule+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#alert-detail")))
	detail := eval[string](t, b, "document.getElementById('detail-fields').textContent")
	for _, want := range []string{"fd.name", "/etc/ld.so.preload", sidecarShort} {
		if !strings.Contains(detail, want) {
			t.Errorf("the alert's fields (%q) lack %q", detail, want)
		}
	}
	b.screenshot(t, "1-alert-live")

	// The hostile file path, as an alert.
	if out, err := exec.Command("/bin/sh", "-c", `echo x > "$1"`, "sh", hostilePath).CombinedOutput(); err != nil {
		t.Fatalf("write %q: %v: %s", hostilePath, err, out)
	}
	probe := `document.querySelector('tr.alert.new[data-rule="Console probe"]')`
	b.waitFor(t, "the hostile path's alert arrives", probe, 10*time.Second)
	outText := eval[string](t, b, probe+".querySelector('td.output').textContent")
	if !strings.Contains(outText, hostilePath) {
		t.Errorf("the alert's output cell %q does not hold the path %q as text", outText, hostilePath)
	}
	b.do(t, "open the hostile alert", 10*time.Second, chromedp.Click(chromedp.CSS(`tr.alert.new[data-rule="Console probe"]`)))
	fdName := eval[string](t, b, `[...document.querySelectorAll('#detail-fields dt')].find(e => e.textContent === 'fd.name').nextSibling.textContent`)
	if fdName != hostilePath {
		t.Errorf("the alert's fd.name reads %q, want %q", fdName, hostilePath)
	}
	b.screenshot(t, "2-hostile-path")

	// The containers, with the sidecar's findings by kind.
	b.do(t, "open the containers", 10*time.Second, chromedp.Navigate(a.url+"/ui/#containers"))
	srow := `document.querySelector('tr.container[data-id="` + sidecarShort + `"]')`
	kinds := []string{"hidden_process", "preload_config", "injected_library", "preload_env"}
	cond := srow
	for _, k := range kinds {
		cond += " && " + srow + ".querySelector('td.findings').textContent.includes('" + k + "')"
	}
	b.waitFor(t, "the sidecar's findings of every kind", cond, 30*time.Second)
	name := eval[string](t, b, srow+".querySelector('td.name').textContent")
	if name != "ts-console-sidecar-"+suffix {
		t.Errorf("the sidecar's row is named %q, want ts-console-sidecar-%s", name, suffix)
	}
	b.screenshot(t, "3-containers")

	// The sidecar's tree: the miner marked, with its evidence.
	b.do(t, "open the sidecar", 10*time.Second, chromedp.Navigate(a.url+"/ui/#container="+sidecarShort))
	minerNode := `document.querySelector('li.proc.hidden-proc[data-pid="` + strconv.Itoa(minerPid) + `"]')`
	b.waitFor(t, "the hidden miner marked in the sidecar's tree", minerNode, 30*time.Second)
	badge := eval[string](t, b, minerNode+".querySelector('.badge.hidden').textContent")
	evidence := eval[string](t, b, minerNode+".querySelector('dl.evidence').textContent")
	if !strings.Contains(badge, "hidden from libc(") {
		t.Errorf("the miner's mark %q does not name the libc views that miss it", badge)
	}
	for _, want := range []string{"/tmp/libx.so", libSum, "readdir", "container:" + sidecarShort} {
		if !strings.Contains(evidence, want) {
			t.Errorf("the miner's evidence %q lacks %q", evidence, want)
		}
	}
	hiddenCount := eval[int](t, b, "document.querySelectorAll('#tree li.hidden-proc').length")
	if hiddenCount != 1 {
		t.Errorf("%d processes marked hidden in the sidecar's tree, want 1 (the miner)", hiddenCount)
	}
	findingKinds := eval[[]string](t, b, "[...document.querySelectorAll('#findings li.finding')].map(e => e.dataset.kind)")
	for _, k := range kinds {
		if !contains(findingKinds, k) {
			t.Errorf("the sidecar's findings %q lack %s", findingKinds, k)
		}
	}

	// The hostile process's name is text in the tree.
	hostileNode := `document.querySelector('li.proc[data-pid="` + strconv.Itoa(hostilePid) + `"]')`
	b.waitFor(t, "the hostile process in the tree", hostileNode, 10*time.Second)
	comm := eval[string](t, b, hostileNode+".querySelector('.comm').textContent")
	cmdline := eval[string](t, b, hostileNode+".querySelector('.cmdline').textContent")
	if comm != hostileComm || cmdline != "/tmp/"+hostileProcess+" 1000" {
		t.Errorf("the hostile process reads comm %q, cmdline %q; want %q and %q as text", comm, cmdline, hostileComm, "/tmp/"+hostileProcess+" 1000")
	}
	b.screenshot(t, "4-sidecar-tree")

	// No element was made of the hostile strings, and none ran.
	made := eval[int](t, b, "document.querySelectorAll('img, svg, script:not([src])').length")
	if made != 0 {
		t.Errorf("%d img, svg or inline script elements in the page: hostile text became markup", made)
	}
	b.clean(t)
	t.Logf("hidden miner pid %d, hostile process pid %d, screenshots in %s", minerPid, hostilePid, b.shots)
}
