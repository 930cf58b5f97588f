package agent

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/ruleset"
)

// Rules names the rules an engine is built from: truesight's embedded
// defaults (unless NoDefaults), then each file in order.
type Rules struct {
	Files      []string
	NoDefaults bool
}

// ConfigRules are the configuration's rules_files followed by extra files
// (the command line's -r), as every command that judges events loads them.
func ConfigRules(cfg *config.Config, extra []string, noDefaults bool) Rules {
	return Rules{Files: append(append([]string{}, cfg.RulesFiles...), extra...), NoDefaults: noDefaults}
}

// Sources reads the rules files.
func (r Rules) Sources() ([]rules.Source, error) {
	var srcs []rules.Source
	if !r.NoDefaults {
		srcs = append(srcs, rules.Source{Name: ruleset.DefaultName, Data: ruleset.Default})
	}
	for _, path := range r.Files {
		files := []string{path}
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			if files, err = config.RulesFilesIn(path); err != nil {
				return nil, fmt.Errorf("read rules directory: %w", err)
			}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("read rules file: %w", err)
			}
			srcs = append(srcs, rules.Source{Name: f, Data: data})
		}
	}
	return srcs, nil
}

// RulesError is a load that found errors in the rules; each was written to
// the diagnostics writer with its file, line and column.
type RulesError struct{ Errors int }

func (e *RulesError) Error() string {
	return fmt.Sprintf("rules did not load: %d error(s)", e.Errors)
}

// LoadEngine builds an engine from the rules, writing every diagnostic
// (warnings too) to diag. Errors in the rules give a *RulesError; a file
// that cannot be read gives the read error.
func LoadEngine(r Rules, opts engine.Options, diag io.Writer) (*engine.Engine, *rules.Ruleset, error) {
	srcs, err := r.Sources()
	if err != nil {
		return nil, nil, err
	}
	eng, rs, diags := engine.Load(srcs, opts)
	for _, d := range diags {
		fmt.Fprintln(diag, d.String())
	}
	if diags.HasErrors() || eng == nil {
		return nil, rs, &RulesError{Errors: len(diags.Errors())}
	}
	return eng, rs, nil
}

// EngineOptions are the engine settings of a configuration: priority,
// rule_matching and append_output.
func EngineOptions(cfg *config.Config) engine.Options {
	o := engine.Options{MinPriority: cfg.MinPriority(), HasMinPriority: true}
	if cfg.AllMatching() {
		o.Matching = engine.MatchAll
	}
	for _, a := range cfg.AppendOutput {
		e := engine.AppendOutput{Source: a.Match.Source, Rule: a.Match.Rule, Tags: a.Match.Tags, Extra: a.ExtraOutput}
		for _, f := range a.ExtraFields {
			e.Fields = append(e.Fields, output.ExtraField{Name: f.Name, Value: f.Value})
		}
		o.Append = append(o.Append, e)
	}
	return o
}

// SelfMntNS returns the inode of the agent's own mount namespace: the
// host's, for the translator to tell host paths from container paths.
func SelfMntNS() uint32 {
	link, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return 0
	}
	// "mnt:[4026531841]"
	i, j := strings.IndexByte(link, '['), strings.IndexByte(link, ']')
	if i < 0 || j < i {
		return 0
	}
	n, err := strconv.ParseUint(link[i+1:j], 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}
