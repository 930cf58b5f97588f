/*
 * A preload library for truesight's tests, never shipped: loaded into a
 * program of a container, it appends the program's name, uid, capability
 * sets, no_new_privs and bounding CAP_BPF to /tmp/caps.txt, so that a test
 * can see with what privileges the scan ran the container's own tools.
 *
 * Build: gcc -shared -fPIC -o libcapdump.so capdump.c
 */
#include <linux/capability.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((constructor)) static void dump(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {{0}};
	char comm[17] = {0};
	FILE *out;

	if (syscall(SYS_capget, &h, d) != 0)
		return;
	prctl(PR_GET_NAME, comm, 0, 0, 0);
	out = fopen("/tmp/caps.txt", "a");
	if (!out)
		return;
	fprintf(out, "comm=%s uid=%d eff=%08x%08x prm=%08x%08x inh=%08x%08x nnp=%d\n", comm, (int)getuid(),
		d[1].effective, d[0].effective, d[1].permitted, d[0].permitted,
		d[1].inheritable, d[0].inheritable, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	fclose(out);
}
