package condition

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are *Error within
// the input, and that an accepted condition prints to text that parses to a
// tree printing the same. EventTypeSet must not panic either.
func FuzzParse(f *testing.F) {
	for _, v := range loadParserVectors(f) {
		f.Add(v.Filter)
	}
	for _, s := range []string{
		largeCondition,
		`a.b = "x\ " and a.b['q r'] = "\b\f\n\r\t\\\/\""`,
		"not (not a) and not not b",
		`join("-", (fd.name, 1, "x", tolower(a.b))) = y`,
		"proc.name = oneof my_list and proc.name startswith anyof (a, 'b c') or evt.num = 0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := Parse(in)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *Error", err)
			}
			if pe.Pos < 0 || int(pe.Pos) > len(in) || pe.Line < 1 || pe.Column < 1 {
				t.Fatalf("error %+v out of range for %d bytes", pe, len(in))
			}
			_ = pe.Error()
			return
		}
		_, _ = EventTypeSet(e)
		s := e.String()
		e2, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) prints %q, which does not parse: %v", in, s, err)
		}
		if s2 := e2.String(); s2 != s {
			t.Fatalf("Parse(%q) prints %q, which reprints %q", in, s, s2)
		}
	})
}

// largeCondition is a stable-rules-like condition with its macros and lists
// expanded, as the rule loader hands it to the compiler.
var largeCondition = strings.Join([]string{
	`(evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0)`,
	`and (fd.name in (/etc/shadow, /etc/sudoers, /etc/pam.conf, /etc/security/pwquality.conf) or fd.directory in (/etc/sudoers.d, /etc/pam.d) or fd.name startswith /etc/shadow)`,
	`and (proc.name!="<NA>" and proc.name!="" and proc.name exists)`,
	`and not proc.name in (login_binaries, passwd_binaries, shadowutils_binaries, sysdigcloud_binaries, vpn_binaries, "mail-watcher", iptables, ps, lsb_release, check-new-relea, dumpe2fs, accounts-daemon, sshd, vsftpd, systemd, mysql_install_d, psql, screen, debconf-show, sa-update, pam-auth-update, pam-config, /usr/sbin/spamd, polkit-agent-he, lsattr, file, sosreport, scxcimservera, adclient, rtvscand, cockpit-session, userhelper, ossec-syscheckd)`,
	`and not proc.pname in (cron_binaries, "run-parts", dpkg-reconfigur, sshd, systemd, containerd-shim, runc:[0:PARENT])`,
	`and not proc.cmdline startswith oneof ("nginx: master process", "nginx: worker process", 'java -jar /opt/app.jar')`,
	`and not (proc.aname[2] in (sshd, sudo) and proc.exepath glob /usr/bin/*)`,
	`and not (container.image.repository endswith /falco and k8s.ns.name = falco and k8s.pod.label.app != "")`,
	`and not tolower(proc.exe) contains "update-" and not evt.arg.flags contains O_TRUNC`,
	`and not (user.name = root and proc.name = 'sshd' and proc.tty = 0 and evt.num > 0)`,
}, "\n    ")

func BenchmarkParse(b *testing.B) {
	cases := map[string]string{
		"rule": largeCondition,
		// A long rule condition as a loader builds it from many exceptions.
		"many": "(" + strings.TrimSuffix(strings.Repeat("("+largeCondition+") or\n", 50), " or\n") + ")",
	}
	for name, in := range cases {
		b.Run(name, func(b *testing.B) {
			if _, err := Parse(in); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkString(b *testing.B) {
	e, err := Parse(largeCondition)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = e.String()
	}
}

func BenchmarkEventTypes(b *testing.B) {
	e, err := Parse(largeCondition)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = EventTypes(e)
	}
}
