// Package harness builds synthetic events and process trees for testing
// rules: a process with its ancestors, user, terminal and container, and the
// syscall events it makes (execve, openat, connect, ptrace, ...) with their
// parameters named and rendered as Falco's event table has them. Every event
// happens at the fixed time T0 on host Hostname, so alert lines are exact.
package harness
