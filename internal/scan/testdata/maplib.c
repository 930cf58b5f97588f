/*
 * Maps files into a process that sits in a root of its own, for
 * truesight's injected-library tests; compiled by the tests with gcc and
 * never shipped.
 *
 * maplib ROOT [DIR:FILE]...
 *
 * In a private mount namespace it makes ROOT a mount of its own, maps each
 * FILE (relative to DIR) executable, moves into ROOT as runc does
 * (pivot_root, the old root detached), prints "ready" and sleeps. A DIR other than ROOT is bound on itself and detached after the
 * mapping, so the kernel prints the mapping as /FILE: the way it prints a
 * file of the host that runc's init process mapped before it moved into
 * a container and detached the host's mounts. The host's own libc is
 * mapped by the loader before any of this.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "maplib: %s %s: ", what, arg);
	perror(NULL);
	exit(1);
}

int main(int argc, char **argv)
{
	const char *root;

	if (argc < 2) {
		fprintf(stderr, "usage: maplib ROOT [DIR:FILE]...\n");
		return 2;
	}
	root = argv[1];
	if (unshare(CLONE_NEWNS) != 0)
		die("unshare", "");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		die("make private", "/");
	if (mount(root, root, NULL, MS_BIND, NULL) != 0)
		die("bind", root);
	for (int i = 2; i < argc; i++) {
		char dir[4096], path[8192];
		char *colon = strchr(argv[i], ':');
		int own, fd;

		if (!colon || (size_t)(colon - argv[i]) >= sizeof dir)
			die("bad argument", argv[i]);
		memcpy(dir, argv[i], colon - argv[i]);
		dir[colon - argv[i]] = 0;
		own = strcmp(dir, root) == 0;
		if (!own && mount(dir, dir, NULL, MS_BIND, NULL) != 0)
			die("bind", dir);
		snprintf(path, sizeof path, "%s/%s", dir, colon + 1);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("open", path);
		if (mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) == MAP_FAILED)
			die("mmap", path);
		close(fd);
		if (!own && umount2(dir, MNT_DETACH) != 0)
			die("detach", dir);
	}
	if (chdir(root) != 0 || syscall(SYS_pivot_root, ".", ".") != 0)
		die("pivot_root", root);
	if (umount2(".", MNT_DETACH) != 0 || chdir("/") != 0)
		die("detach the old root", "");
	printf("ready\n");
	fflush(stdout);
	pause();
	return 0;
}
