// Package event defines the one record every part of truesight speaks: a
// typed event, emitted once per syscall at its exit or once per detector
// finding, carrying its parameters and the file descriptor it refers to.
// Sensors, the capture reader and detectors produce events; fields read them.
package event
