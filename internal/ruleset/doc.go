// Package ruleset embeds truesight's own default rules, written in Falco's
// rules language, so the agent alerts on the preload attack chain with no
// rules file at all.
package ruleset
