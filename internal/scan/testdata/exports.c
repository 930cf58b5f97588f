/*
 * A shared object for truesight's ELF reader tests, compiled by the tests:
 * it defines two functions of the hiding set (stat, fopen), two ordinary
 * ones, a local one, and only imports unlink.
 */
#include <stdio.h>
#include <unistd.h>

int stat(const char *path, void *buf) { (void)path; (void)buf; return -1; }
FILE *fopen(const char *path, const char *mode) { (void)path; (void)mode; return NULL; }
static int helper(void) { return 1; }
int not_hiding(void) { return helper(); }
int uses_unlink(void) { return unlink("x"); }
