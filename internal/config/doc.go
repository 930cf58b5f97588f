// Package config reads truesight's configuration: a YAML file with Falco's
// falco.yaml key names, on top of an embedded, documented default, with
// -o key=value overrides and ${VAR} environment references. Mistakes are
// reported with the key's path and line; unknown keys are warnings.
package config
