package ruleset

import _ "embed"

// DefaultName is the name the embedded rules carry in diagnostics.
const DefaultName = "truesight_rules.yaml (embedded)"

// Default is the text of the embedded default ruleset.
//
//go:embed truesight_rules.yaml
var Default []byte
