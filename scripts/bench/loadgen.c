// loadgen: a syscall load generator for truesight's overhead and throughput
// benchmarks. Not part of the product; built by scripts/bench-live.sh.
//
//   loadgen openclose N      N open+close pairs, prints ns per pair
//   loadgen getppid N        N getppid calls, prints ns per call
//   loadgen rate R SECONDS   R open+close pairs per second for SECONDS
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: loadgen openclose N | getppid N | rate R SECONDS\n");
		return 2;
	}
	const char *path = "/proc/self/comm";
	if (!strcmp(argv[1], "openclose")) {
		long n = atol(argv[2]);
		long long t0 = now_ns();
		for (long i = 0; i < n; i++) {
			int fd = open(path, O_RDONLY);
			if (fd >= 0) close(fd);
		}
		printf("%.1f\n", (double)(now_ns() - t0) / n);
		return 0;
	}
	if (!strcmp(argv[1], "getppid")) {
		long n = atol(argv[2]);
		long long t0 = now_ns();
		for (long i = 0; i < n; i++) syscall(SYS_getppid);
		printf("%.2f\n", (double)(now_ns() - t0) / n);
		return 0;
	}
	if (!strcmp(argv[1], "rate") && argc >= 4) {
		long rate = atol(argv[2]);
		long secs = atol(argv[3]);
		long long start = now_ns(), done = 0;
		long long end = start + secs * 1000000000LL;
		while (now_ns() < end) {
			long long due = (now_ns() - start) * rate / 1000000000LL;
			while (done < due) {
				int fd = open(path, O_RDONLY);
				if (fd >= 0) close(fd);
				done++;
			}
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL);
		}
		printf("%lld pairs in %ld s: %.0f events/s\n", done, secs, 2.0 * done / secs);
		return 0;
	}
	fprintf(stderr, "loadgen: unknown mode %s\n", argv[1]);
	return 2;
}
