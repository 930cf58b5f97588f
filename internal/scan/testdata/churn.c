/*
 * Process churn for truesight's no-false-positive test, compiled by the
 * test with gcc and never shipped: forks RATE short-lived processes per
 * second for SECONDS seconds. Each child starts two threads, lets them run
 * a moment and exits, so PIDs, thread ids and exits race every scan.
 * Prints the number of processes it forked.
 *
 * Build: gcc -O2 -pthread -o churn churn.c; run: churn RATE SECONDS
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *worker(void *arg)
{
	struct timespec ts = {0, 500000}; /* 0.5 ms */
	(void)arg;
	nanosleep(&ts, NULL);
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long rate, forked = 0;
	double secs, start, t;

	if (argc != 3) {
		fprintf(stderr, "usage: churn RATE SECONDS\n");
		return 2;
	}
	rate = atol(argv[1]);
	secs = atof(argv[2]);
	signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
	start = now();
	while ((t = now()) - start < secs) {
		long due = (long)((t - start) * rate);
		while (forked < due) {
			pid_t pid = fork();
			if (pid == 0) {
				pthread_t th[2];
				for (int i = 0; i < 2; i++)
					pthread_create(&th[i], NULL, worker, NULL);
				for (int i = 0; i < 2; i++)
					pthread_join(th[i], NULL);
				_exit(0);
			}
			if (pid > 0)
				forked++;
		}
		usleep(1000);
	}
	printf("%ld\n", forked);
	return 0;
}
