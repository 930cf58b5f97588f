// Package enginetest builds the events rules are tested on the way users get
// them: a process tree (argv, user, terminal, container, parent chain) and
// the syscalls its processes make become the sensor records the kernel
// side would read (fork, exec, syscall exits), and a real agent.Translator
// turns them into events and state. Process attributes, parameters and fd
// tables therefore come from the code the agent runs, not from a second
// rendering. Every record happens at the fixed time T0 on host Hostname, so
// alert lines are exact.
//
// It is for tests only: no non-test package may import it (see
// imports_test.go).
package enginetest
