package scan

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// envGroup is the processes of one root that share one loader
// environment.
type envGroup struct {
	root  *root
	env   loaderEnv
	procs []*proc
	libs  []*resolvedLibrary
}

// environments reports processes started with LD_PRELOAD or LD_AUDIT, one
// finding per root and distinct environment, and remembers the groups for
// the libc views.
func (s *Scanner) environments(roots []*root) []*Finding {
	s.envGroups = nil
	var out []*Finding
	for _, r := range roots {
		byEnv := map[string]*envGroup{}
		var groups []*envGroup
		for _, p := range r.Procs {
			if !p.Env.injects() {
				continue
			}
			g := byEnv[p.Env.key()]
			if g == nil {
				g = &envGroup{root: r, env: p.Env}
				byEnv[p.Env.key()] = g
				groups = append(groups, g)
			}
			g.procs = append(g.procs, p)
		}
		if len(groups) == 0 {
			continue
		}
		rootfd, err := s.openRootOf(r.Rep)
		if err != nil {
			continue
		}
		for _, g := range groups {
			if f := s.envFinding(g, rootfd); f != nil {
				out = append(out, f)
				s.envGroups = append(s.envGroups, g)
			}
		}
		closeFD(rootfd)
	}
	return out
}

func (s *Scanner) envFinding(g *envGroup, rootfd int) *Finding {
	// Confirm with a second read of a process's environment.
	var rep *proc
	for _, p := range g.procs {
		st, ok := statOf(s.procfd, p.Pid)
		if !ok || st.StartTicks != p.Stat.StartTicks {
			continue
		}
		b, err := readAt(s.procfd, fmt.Sprintf("%d/environ", p.Pid), make([]byte, 0, 16<<10), maxEnviron)
		if (err == nil || err == errTooLarge) && parseEnv(b).key() == g.env.key() {
			rep = p
			break
		}
	}
	if rep == nil {
		return nil
	}
	libPath := strings.Split(g.env.LibraryPath, ":")
	for _, e := range parsePreloadEnv(g.env.Preload, false) {
		g.libs = append(g.libs, s.resolveLibrary(rootfd, e, libPath))
	}
	for _, e := range parsePreloadEnv(g.env.Audit, true) {
		g.libs = append(g.libs, s.resolveLibrary(rootfd, e, libPath))
	}
	r := g.root
	pids := make([]int, 0, len(g.procs))
	for _, p := range g.procs {
		pids = append(pids, p.Pid)
	}
	sort.Ints(pids)
	f := &Finding{Key: fmt.Sprintf("env:%s:%q", r.Key, g.env.key())}
	f.Kind = KindPreloadEnv
	f.Root = r.Label
	f.Detail = map[string]string{"pids": pidList(pids), "processes": strconv.Itoa(len(pids))}
	if g.env.hasPreload {
		f.Detail["LD_PRELOAD"] = g.env.Preload
	}
	if g.env.hasAudit {
		f.Detail["LD_AUDIT"] = g.env.Audit
	}
	if g.env.hasLibPath {
		f.Detail["LD_LIBRARY_PATH"] = g.env.LibraryPath
	}
	if r.ContainerID != "" {
		f.Detail["container_id"] = r.ContainerID
	}
	if lib := hidingLibrary(g.libs); lib != nil {
		lib.describe(f)
	}
	var vars []string
	for _, v := range g.env.vars() {
		if !strings.HasPrefix(v, "LD_LIBRARY_PATH=") {
			vars = append(vars, v)
		}
	}
	f.Summary = fmt.Sprintf("%d process(es) of %s run with %s", len(pids), r.Label, strings.Join(vars, " "))
	f.Process = s.processState(rep)
	f.Detail["started"] = isoTime(f.Process.StartTime)
	return f
}

// hidingLibrary picks the library a finding names: the first that
// overrides directory functions, else the first that overrides any hiding
// function, else the first.
func hidingLibrary(libs []*resolvedLibrary) *resolvedLibrary {
	for _, l := range libs {
		if l.Lib != nil && l.Lib.HidesDirs {
			return l
		}
	}
	for _, l := range libs {
		if l.Lib != nil && len(l.Lib.Symbols) > 0 {
			return l
		}
	}
	if len(libs) > 0 {
		return libs[0]
	}
	return nil
}

// libcView is one way a root's libc tools can be fooled: its
// /etc/ld.so.preload, or one LD_PRELOAD environment of its processes.
type libcView struct {
	root   *root
	target *proc
	env    loaderEnv
	source string // /etc/ld.so.preload, or LD_PRELOAD of pid N
	libs   []*resolvedLibrary
}

// libcViews runs, for every root with a preload file and every distinct
// LD_PRELOAD environment, the root's own libc listing tools inside its
// namespaces and reports live processes they do not show.
func (s *Scanner) libcViews(ctx context.Context, roots []*root, vp *viewPass) ([]*Finding, error) {
	var views []*libcView
	for _, r := range roots {
		if r.Preload == nil || len(r.Preload.Entries) == 0 {
			continue
		}
		v := &libcView{root: r, target: r.Rep, source: preloadPath}
		if rootfd, err := s.openRootOf(r.Rep); err == nil {
			for _, e := range r.Preload.Entries {
				v.libs = append(v.libs, s.resolveLibrary(rootfd, e, nil))
			}
			closeFD(rootfd)
		}
		views = append(views, v)
	}
	for _, g := range s.envGroups {
		views = append(views, &libcView{root: g.root, target: g.procs[0], env: g.env,
			source: fmt.Sprintf("LD_PRELOAD of pid %d", g.procs[0].Pid), libs: g.libs})
	}
	if len(views) > s.opts.MaxViews {
		s.report.Notes = append(s.report.Notes, fmt.Sprintf("%d libc views needed, %d run (MaxViews)", len(views), s.opts.MaxViews))
		views = views[:s.opts.MaxViews]
	}
	var out []*Finding
	for _, v := range views {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fs := s.runView(ctx, v, vp)
		out = append(out, fs...)
	}
	return out, nil
}

// viewPassResult is one comparison of a root's procfs with its libc tools.
type viewPassResult struct {
	missing map[int][]string // pid in the root's namespace -> tools that missed it
	start   map[int]uint64   // its start time, read through the root's procfs
}

// runView compares the root's procfs, read with getdents64 before and
// after, with what each dynamically linked listing tool of the root prints
// under the view's preload configuration. A PID listed by procfs before
// and after but missing from a tool is a candidate; it is a finding when a
// second comparison misses the same process (same start time) again.
func (s *Scanner) runView(ctx context.Context, v *libcView, vp *viewPass) []*Finding {
	r := v.root
	note := func(format string, args ...any) {
		s.report.Notes = append(s.report.Notes, fmt.Sprintf("libc view of %s (%s): ", r.Label, v.source)+fmt.Sprintf(format, args...))
	}
	rootfd, err := s.openRootOf(v.target)
	if err != nil {
		note("%v", err)
		return nil
	}
	defer closeFD(rootfd)
	rprocfd, err := openInRoot(rootfd, "/proc", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		note("no /proc in the root: %v", err)
		return nil
	}
	defer closeFD(rprocfd)
	var sfs unix.Statfs_t
	if unix.Fstatfs(rprocfd, &sfs) != nil || sfs.Type != unix.PROC_SUPER_MAGIC {
		note("/proc of the root is not procfs")
		return nil
	}
	type tool struct {
		name, path string
		args       []string
	}
	var tools []tool
	for _, l := range listers {
		for _, p := range l.Paths {
			if dynamicProgram(rootfd, p) {
				tools = append(tools, tool{l.Name, p, l.Args})
				break
			}
		}
	}
	if len(tools) == 0 {
		note("no dynamically linked ps or ls in the root: its tools cannot be fooled by a preload library")
		return nil
	}
	st, err := readStatus(s.procfd, v.target.Pid)
	if err != nil {
		note("target pid %d: %v", v.target.Pid, err)
		return nil
	}
	t := listingTarget{Pid: v.target.Pid, Start: v.target.Stat.StartTicks, UID: st.UID, GID: st.GID, Env: v.env.vars()}
	s.report.Stats.Views++

	pass := func() (*viewPassResult, bool) {
		before := map[int]bool{}
		if err := listPids(rprocfd, make([]byte, 32<<10), func(p int) { before[p] = true }); err != nil {
			note("list root procfs: %v", err)
			return nil, false
		}
		seen := map[string]map[int]bool{}
		ran := 0
		for _, tl := range tools {
			pids, err := s.runListing(ctx, t, tl.path, tl.args)
			if err != nil {
				note("%s: %v", tl.name, err)
				continue
			}
			ran++
			m := map[int]bool{}
			for _, p := range pids {
				m[p] = true
			}
			seen[tl.name] = m
		}
		if ran == 0 {
			return nil, false
		}
		after := map[int]bool{}
		if err := listPids(rprocfd, make([]byte, 32<<10), func(p int) { after[p] = true }); err != nil {
			note("list root procfs: %v", err)
			return nil, false
		}
		res := &viewPassResult{missing: map[int][]string{}, start: map[int]uint64{}}
		for p := range before {
			if !after[p] {
				continue
			}
			for _, tl := range tools {
				if m, ok := seen[tl.name]; ok && !m[p] {
					res.missing[p] = append(res.missing[p], tl.name)
				}
			}
		}
		for p := range res.missing {
			if st, ok := statOf(rprocfd, p); ok {
				res.start[p] = st.StartTicks
			} else {
				delete(res.missing, p)
			}
		}
		return res, true
	}
	first, ok := pass()
	if !ok || len(first.missing) == 0 {
		return nil
	}
	s.report.Stats.Candidates += len(first.missing)
	second, ok := pass()
	if !ok {
		return nil
	}
	var out []*Finding
	vpids := make([]int, 0, len(first.missing))
	for p := range first.missing {
		vpids = append(vpids, p)
	}
	sort.Ints(vpids)
	for _, vpid := range vpids {
		tools2, again := second.missing[vpid]
		if !again || second.start[vpid] != first.start[vpid] {
			continue
		}
		var missedBy []string
		for _, name := range first.missing[vpid] {
			if slices.Contains(tools2, name) {
				missedBy = append(missedBy, name)
			}
		}
		if len(missedBy) == 0 {
			continue
		}
		if f := s.hiddenFinding(v, rprocfd, vpid, first.start[vpid], missedBy, vp); f != nil {
			out = append(out, f)
		}
	}
	return out
}

// hiddenFinding describes a process hidden from a root's libc tools, or
// returns nil when it cannot name the process by its host PID: a finding
// carries the process's real PID and container, or it is not raised (a
// process that exited since the comparison is no longer hidden anyway).
func (s *Scanner) hiddenFinding(v *libcView, rprocfd, vpid int, start uint64, missedBy []string, vp *viewPass) *Finding {
	r := v.root
	vst, _ := statOf(rprocfd, vpid)
	host := s.hostPid(rprocfd, vpid, start, vst.Comm)
	if host <= 0 {
		s.report.Notes = append(s.report.Notes, fmt.Sprintf("libc view of %s (%s): process %d (%s) missing from %s has no host PID (it exited): not reported",
			r.Label, v.source, vpid, vst.Comm, strings.Join(missedBy, ",")))
		return nil
	}
	p := s.procs[host]
	if p == nil {
		// Started after /proc was read: read it now.
		if p = newCollector(s.procfd).read(host); p == nil || p.Stat.StartTicks != start {
			return nil
		}
	}
	tools := make([]string, len(missedBy))
	for i, t := range missedBy {
		tools[i] = "libc(" + t + ")"
	}
	var seen []string
	if s.opts.Kernel != nil {
		if _, ok := vp.kernel[host]; ok {
			seen = append(seen, "kernel")
		}
	}
	if vp.procfs.has(host) {
		seen = append(seen, "procfs")
	}
	if vp.probe.has(host) {
		seen = append(seen, "probe")
	}
	seen = append(seen, "root procfs")
	f := &Finding{Key: fmt.Sprintf("hidden:%s:%q:%d:%d", r.Key, v.env.key(), vpid, start)}
	f.Kind = KindHiddenProcess
	f.Root = r.Label
	f.Views = fmt.Sprintf("seen by %s; missing from %s", strings.Join(seen, ","), strings.Join(tools, ","))
	f.Detail = map[string]string{
		"hidden_from": r.Label,
		"vpid":        strconv.Itoa(vpid),
		"preload":     v.source,
		"pid":         strconv.Itoa(host),
	}
	if r.ContainerID != "" {
		f.Detail["hidden_from_container_id"] = r.ContainerID
	}
	if v.env.hasPreload {
		f.Detail["LD_PRELOAD"] = v.env.Preload
	}
	if lib := hidingLibrary(v.libs); lib != nil {
		lib.describe(f)
	}
	if f.Detail["missing"] == "" {
		delete(f.Detail, "missing")
	}
	f.Process = s.processState(p)
	f.Detail["started"] = isoTime(f.Process.StartTime)
	where := "the host"
	if r.ContainerID != "" || r.Label != "host" {
		where = r.Label
	}
	f.Summary = fmt.Sprintf("process %d (%s) is hidden from %s of %s by %s", vpid, vst.Comm, strings.Join(missedBy, " and "), where, f.Library)
	return f
}

// hostPid finds the host PID of a process known by its PID vpid in the PID
// namespace of a root's procfs: the host process with the same start time
// and comm, in the same PID namespace (the namespace link read through
// both procfs), with vpid among its namespace PIDs. The processes the scan
// read are looked at first, then the host's /proc again, for a process
// that started after the scan read it. 0: no such process (it exited).
func (s *Scanner) hostPid(rprocfd, vpid int, start uint64, comm string) int {
	ns, err := nsInode(rprocfd, fmt.Sprintf("%d/ns/pid", vpid))
	if err != nil {
		return 0
	}
	is := func(pid int) bool {
		st, ok := statOf(s.procfd, pid)
		if !ok || st.StartTicks != start || st.Comm != comm {
			return false
		}
		if pns, err := nsInode(s.procfd, fmt.Sprintf("%d/ns/pid", pid)); err != nil || pns != ns {
			return false
		}
		status, err := readStatus(s.procfd, pid)
		return err == nil && status.Tgid == pid && slices.Contains(status.NSpid, vpid)
	}
	var read []int
	for pid, p := range s.procs {
		if p.Stat.StartTicks == start && p.Stat.Comm == comm {
			read = append(read, pid)
		}
	}
	sort.Ints(read)
	for _, pid := range read {
		if is(pid) {
			return pid
		}
	}
	found := 0
	_ = listPids(s.procfd, make([]byte, 32<<10), func(pid int) {
		if found == 0 && s.procs[pid] == nil && is(pid) {
			found = pid
		}
	})
	return found
}
