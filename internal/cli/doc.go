// Package cli is truesight's command line: the cobra commands and the
// wiring between loader, engine, sensor and outputs. It holds no domain
// logic of its own.
package cli
