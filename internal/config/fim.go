package config

import (
	"slices"
	"strings"
)

// FIM is truesight.fim: file integrity of the configured host paths and of
// every container (`truesight fim`, and in real time in `truesight run`).
type FIM struct {
	// Enabled watches every container's upper layer in `truesight run`
	// (fanotify) and reports changes as findings.
	Enabled bool `yaml:"enabled"`
	// DB is the baseline database (bbolt).
	DB string `yaml:"db"`
	// KeyFile holds the HMAC key of the database's records, outside it;
	// made (0600) when missing.
	KeyFile string `yaml:"key_file"`
	// HostPaths are the host trees `truesight fim init` and `check` cover.
	HostPaths []string `yaml:"host_paths"`
	// WatchPaths are the trees of each container whose every directory
	// is watched in real time for created, deleted, renamed files and
	// metadata changes; writes of content are seen everywhere.
	WatchPaths []string `yaml:"watch_paths"`
	// Exclude are host paths not walked (with what lies below them).
	Exclude []string `yaml:"exclude"`
	// Containers includes the lower layers and drift of running
	// containers in init and check.
	Containers bool `yaml:"containers"`
	// Workers hash files in parallel; 0: two per CPU, at most 16.
	Workers int `yaml:"workers"`
	// MaxHashMiB is the most data (MiB, holes not counted) a file may
	// hold to be hashed.
	MaxHashMiB int `yaml:"max_hash_mib"`
}

// validateFIM checks truesight.fim.
func validateFIM(c *Config, bad func(key, format string, args ...any)) {
	f := c.Truesight.FIM
	if f.DB == "" || !strings.HasPrefix(f.DB, "/") {
		bad("truesight.fim.db", "must be an absolute path, got %q", f.DB)
	}
	if f.KeyFile == "" || !strings.HasPrefix(f.KeyFile, "/") {
		bad("truesight.fim.key_file", "must be an absolute path, got %q", f.KeyFile)
	}
	if f.KeyFile == f.DB {
		bad("truesight.fim.key_file", "must not be the database itself: the key is kept outside it")
	}
	for _, p := range slices.Concat(f.HostPaths, f.Exclude, f.WatchPaths) {
		if !strings.HasPrefix(p, "/") {
			bad("truesight.fim.host_paths", "%q is not an absolute path", p)
		}
	}
	if f.Workers < 0 || f.Workers > 256 {
		bad("truesight.fim.workers", "must be from 0 (automatic) to 256, got %d", f.Workers)
	}
	if f.MaxHashMiB < 1 {
		bad("truesight.fim.max_hash_mib", "must be positive, got %d", f.MaxHashMiB)
	}
}
