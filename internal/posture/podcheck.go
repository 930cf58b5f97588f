package posture

import (
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Options tune the checks.
type Options struct {
	// Profiles are AppArmor profiles by name (LoadProfiles), to judge
	// Localhost profiles; nil when none were given.
	Profiles map[string]*Profile
	// ProfilesDir is where Profiles came from, for messages.
	ProfilesDir string
}

// dangerousCaps break a container's isolation when added.
var dangerousCaps = []string{"SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE", "SYS_RAWIO", "DAC_OVERRIDE", "DAC_READ_SEARCH", "BPF", "PERFMON", "NET_ADMIN", "SYS_BOOT", "MAC_ADMIN", "MAC_OVERRIDE", "ALL"}

const appArmorAnnotation = "container.apparmor.security.beta.kubernetes.io/"

// cref is one container of a pod spec with the path to it.
type cref struct {
	c     *corev1.Container
	field string // containers, initContainers, ephemeralContainers
	index int
}

func containersOf(s *corev1.PodSpec) []cref {
	var out []cref
	for i := range s.InitContainers {
		out = append(out, cref{&s.InitContainers[i], "initContainers", i})
	}
	for i := range s.Containers {
		out = append(out, cref{&s.Containers[i], "containers", i})
	}
	for i := range s.EphemeralContainers {
		out = append(out, cref{(*corev1.Container)(&s.EphemeralContainers[i].EphemeralContainerCommon), "ephemeralContainers", i})
	}
	return out
}

// CheckPod runs every manifest check on p.
func CheckPod(p *Pod, o *Options) ([]Finding, []Note) {
	var fs []Finding
	var notes []Note
	s := &p.Spec
	psc := s.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	add := func(id, container, msg string, line int) {
		f := newFinding(id, msg, container)
		f.File, f.Line, f.Workload = p.File, line, p.Workload()
		fs = append(fs, f)
	}
	if s.HostPID {
		add(HostPID, "", "hostPID: true", p.SpecLine("hostPID"))
	}
	if s.HostIPC {
		add(HostIPC, "", "hostIPC: true", p.SpecLine("hostIPC"))
	}
	if s.HostNetwork {
		add(HostNetwork, "", "hostNetwork: true", p.SpecLine("hostNetwork"))
	}
	if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
		msg := "automountServiceAccountToken is not set (the default mounts the token)"
		if s.AutomountServiceAccountToken != nil {
			msg = "automountServiceAccountToken: true"
		}
		add(ServiceAccountTok, "", msg, p.SpecLine("automountServiceAccountToken"))
	}
	shared := s.ShareProcessNamespace != nil && *s.ShareProcessNamespace
	var names []string
	for _, r := range containersOf(s) {
		if r.field == "containers" || isSidecar(r) {
			names = append(names, r.c.Name)
		}
	}
	if shared {
		add(SharedPIDNamespace, "", "shareProcessNamespace: true, containers "+strings.Join(names, ", ")+" see each other's processes", p.SpecLine("shareProcessNamespace"))
	}
	vols := map[string]*corev1.Volume{}
	for i := range s.Volumes {
		vols[s.Volumes[i].Name] = &s.Volumes[i]
	}
	for _, r := range containersOf(s) {
		c := r.c
		at := func(sub ...any) int { return p.SpecLine(append([]any{r.field, r.index}, sub...)...) }
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		privileged := sc.Privileged != nil && *sc.Privileged
		if privileged {
			add(Privileged, c.Name, "privileged: true", at("securityContext", "privileged"))
		}
		readOnly := sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
		if !readOnly {
			add(ReadOnlyRoot, c.Name, "readOnlyRootFilesystem is not true", at("securityContext", "readOnlyRootFilesystem"))
		}
		root, rootMsg, rootLine := runsAsRoot(p, r, sc, psc)
		if root {
			add(RunsAsRoot, c.Name, rootMsg, rootLine)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			msg := "allowPrivilegeEscalation is not set (the default allows it)"
			if sc.AllowPrivilegeEscalation != nil {
				msg = "allowPrivilegeEscalation: true"
			}
			add(PrivEscalation, c.Name, msg, at("securityContext", "allowPrivilegeEscalation"))
		}
		var drop, added []string
		if sc.Capabilities != nil {
			for _, d := range sc.Capabilities.Drop {
				drop = append(drop, capName(string(d)))
			}
			for _, a := range sc.Capabilities.Add {
				added = append(added, capName(string(a)))
			}
		}
		if !privileged && !slices.Contains(drop, "ALL") {
			add(CapsNotDropped, c.Name, "capabilities.drop does not list ALL", at("securityContext", "capabilities", "drop"))
		}
		for i, a := range added {
			if slices.Contains(dangerousCaps, a) {
				add(DangerousCap, c.Name, "capability "+a+" added", at("securityContext", "capabilities", "add", i))
			}
		}
		if shared && root && !readOnly && (r.field == "containers" || isSidecar(r)) {
			others := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == c.Name })
			msg := fmt.Sprintf("%s (%s) can write its /etc and reaches %s through /proc/<pid>/root", c.Name, rootMsg, strings.Join(others, ", "))
			if len(others) == 0 {
				msg = fmt.Sprintf("%s (%s) can write its /etc and shares the pod's process namespace", c.Name, rootMsg)
			}
			add(AttackPath, c.Name, msg, at())
		}
		// seccomp: the container's, else the pod's.
		sp, spLine := sc.SeccompProfile, at("securityContext", "seccompProfile")
		if sp == nil {
			sp, spLine = psc.SeccompProfile, p.SpecLine("securityContext", "seccompProfile")
			if sp == nil {
				spLine = at("securityContext")
			}
		}
		switch {
		case privileged:
		case sp == nil:
			add(Seccomp, c.Name, "no seccompProfile (the kubelet's default is Unconfined)", spLine)
		case sp.Type == corev1.SeccompProfileTypeUnconfined:
			add(Seccomp, c.Name, "seccompProfile type Unconfined", spLine)
		}
		fs = append(fs, checkAppArmor(p, r, sc, psc, privileged, o, &notes)...)
		for i, m := range c.VolumeMounts {
			v := vols[m.Name]
			if v == nil || m.ReadOnly {
				continue
			}
			line := at("volumeMounts", i)
			if v.HostPath != nil {
				add(WritableHostPath, c.Name, fmt.Sprintf("hostPath %s mounted writable at %s", v.HostPath.Path, m.MountPath), line)
			}
			if writableVolume(v) && overSystemDir(m.MountPath) {
				add(MountOverSystemDir, c.Name, fmt.Sprintf("%s volume %q mounted writable at %s", volumeType(v), m.Name, m.MountPath), line)
			}
		}
	}
	return fs, notes
}

func isSidecar(r cref) bool {
	return r.field == "initContainers" && r.c.RestartPolicy != nil && *r.c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// runsAsRoot tells whether the container may run as uid 0, why, and the
// line of the field that decides.
func runsAsRoot(p *Pod, r cref, sc *corev1.SecurityContext, psc *corev1.PodSecurityContext) (bool, string, int) {
	at := func(sub ...any) int { return p.SpecLine(append([]any{r.field, r.index}, sub...)...) }
	uid, uidLine := sc.RunAsUser, at("securityContext", "runAsUser")
	if uid == nil && psc.RunAsUser != nil {
		uid, uidLine = psc.RunAsUser, p.SpecLine("securityContext", "runAsUser")
	}
	if uid != nil {
		if *uid == 0 {
			return true, "runAsUser: 0", uidLine
		}
		return false, "", 0
	}
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = psc.RunAsNonRoot
	}
	if nonRoot != nil && *nonRoot {
		return false, "", 0
	}
	return true, "neither runAsNonRoot: true nor a non-zero runAsUser (the image's user, often root)", at("securityContext", "runAsNonRoot")
}

// capName normalises a capability name: upper case, without CAP_.
func capName(s string) string {
	return strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "CAP_")
}

func writableVolume(v *corev1.Volume) bool {
	return v.ConfigMap == nil && v.Secret == nil && v.DownwardAPI == nil && v.Projected == nil
}

func volumeType(v *corev1.Volume) string {
	switch {
	case v.HostPath != nil:
		return "hostPath"
	case v.EmptyDir != nil:
		return "emptyDir"
	case v.PersistentVolumeClaim != nil:
		return "persistentVolumeClaim"
	case v.Ephemeral != nil:
		return "ephemeral"
	}
	return "writable"
}

var systemDirs = []string{"/etc", "/lib", "/lib64", "/lib32", "/usr/lib", "/usr/lib64", "/usr", "/usr/local/lib"}

// overSystemDir is true for a mount path at or under /etc or a library
// directory, or over a parent of them (/, /usr).
func overSystemDir(mp string) bool {
	mp = path.Clean("/" + mp)
	if mp == "/" {
		return true
	}
	for _, d := range systemDirs {
		if mp == d || strings.HasPrefix(mp, d+"/") {
			if d == "/usr" && mp != "/usr" && !strings.HasPrefix(mp, "/usr/lib") {
				continue // /usr/share, /usr/local/bin...: not the loader's
			}
			return true
		}
	}
	return false
}

// checkAppArmor looks at the container's AppArmor profile: the
// container's field, else the legacy annotation, else the pod's field.
func checkAppArmor(p *Pod, r cref, sc *corev1.SecurityContext, psc *corev1.PodSecurityContext, privileged bool, o *Options, notes *[]Note) []Finding {
	if privileged {
		return nil // privileged containers run unconfined; TSP004 says so
	}
	c := r.c
	at := func(sub ...any) int { return p.SpecLine(append([]any{r.field, r.index}, sub...)...) }
	var kind, name, form string
	var line int
	switch {
	case sc.AppArmorProfile != nil:
		kind, form, line = string(sc.AppArmorProfile.Type), "securityContext.appArmorProfile", at("securityContext", "appArmorProfile")
		if sc.AppArmorProfile.LocalhostProfile != nil {
			name = *sc.AppArmorProfile.LocalhostProfile
		}
	case p.Meta.Annotations[appArmorAnnotation+c.Name] != "":
		v := p.Meta.Annotations[appArmorAnnotation+c.Name]
		form, line = "annotation "+appArmorAnnotation+c.Name, p.MetaLine("annotations", appArmorAnnotation+c.Name)
		switch {
		case v == "runtime/default":
			kind = string(corev1.AppArmorProfileTypeRuntimeDefault)
		case v == "unconfined":
			kind = string(corev1.AppArmorProfileTypeUnconfined)
		case strings.HasPrefix(v, "localhost/"):
			kind, name = string(corev1.AppArmorProfileTypeLocalhost), strings.TrimPrefix(v, "localhost/")
		default:
			kind = "invalid:" + v
		}
	case psc.AppArmorProfile != nil:
		kind, form, line = string(psc.AppArmorProfile.Type), "pod securityContext.appArmorProfile", p.SpecLine("securityContext", "appArmorProfile")
		if psc.AppArmorProfile.LocalhostProfile != nil {
			name = *psc.AppArmorProfile.LocalhostProfile
		}
	}
	mk := func(id, msg string) []Finding {
		f := newFinding(id, msg, c.Name)
		f.File, f.Line, f.Workload = p.File, line, p.Workload()
		return []Finding{f}
	}
	switch {
	case kind == "":
		line = at("securityContext")
		return mk(AppArmorMissing, "no AppArmor profile (neither securityContext.appArmorProfile nor the annotation)")
	case kind == string(corev1.AppArmorProfileTypeUnconfined):
		return mk(AppArmorMissing, "AppArmor unconfined ("+form+")")
	case kind == string(corev1.AppArmorProfileTypeRuntimeDefault):
		return mk(AppArmorEtcWrites, "runtime/default ("+form+") allows writes to /etc/ld.so.preload and /etc/**")
	case kind == string(corev1.AppArmorProfileTypeLocalhost):
		if o == nil || o.Profiles == nil {
			return nil // the profile's text was not given: cannot judge
		}
		prof := o.Profiles[name]
		if prof == nil {
			*notes = append(*notes, Note{p.File, line, fmt.Sprintf("AppArmor profile %q of container %s is not in %s: not judged", name, c.Name, o.ProfilesDir)})
			return nil
		}
		if miss := prof.Missing(); len(miss) > 0 {
			return mk(AppArmorEtcWrites, fmt.Sprintf("profile %s (%s:%d) does not deny writes to %s", name, prof.File, prof.Line, strings.Join(miss, " and ")))
		}
		return nil
	}
	return mk(AppArmorMissing, fmt.Sprintf("AppArmor profile %q (%s) is not a known type", kind, form))
}
