// Package capture reads and writes the scap capture format of sysdig and
// Falco: the pcapng-style block stream (plain or gzip-compressed) with the
// machine, process, fd, user and interface tables taken when the capture
// started, followed by one block per event. Reader decodes blocks, Event
// exposes an event's parameters as Falco renders them, and Pairer joins the
// old layout's enter and exit halves into the exit-only events truesight
// uses. Writer writes tables and events, truesight's own included, in a form
// sysdig reads. Damaged input ends in a FormatError with the byte offset, or
// a skipped, counted block; memory use is bounded by Options.
package capture
