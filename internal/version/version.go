// Package version holds the build's version strings, set at link time.
package version

// Version is the truesight release, overridden with -ldflags -X.
var Version = "0.1.0-dev"

// EngineVersion is the Falco rules engine version truesight implements:
// rules files may require up to this version.
const EngineVersion = "0.57.0"
