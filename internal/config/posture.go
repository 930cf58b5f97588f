package config

import "time"

// Posture is truesight.posture: `truesight run` judges every container
// it sees from the kernel's view (the checks of `truesight posture
// --running`) and reports what is missing as findings for the rules.
type Posture struct {
	// Enabled runs the checks on the containers running at start and on
	// each new one.
	Enabled bool `yaml:"enabled"`
	// Interval is how often /proc is looked at for new containers.
	Interval Duration `yaml:"interval"`
}

// validatePosture checks truesight.posture.
func validatePosture(c *Config, bad func(key, format string, args ...any)) {
	k := c.Truesight.Posture
	if k.Enabled && (time.Duration(k.Interval) < time.Second || time.Duration(k.Interval) > 24*time.Hour) {
		bad("truesight.posture.interval", "must be between 1s and 24h, got %s", time.Duration(k.Interval))
	}
}
