package posture

import (
	"encoding/json"
	"io"
	"path/filepath"
	"strings"

	"github.com/truesightsec/truesight/internal/version"
)

// The SARIF 2.1.0 subset posture writes.

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      string          `json:"level"`
	Message    sarifText       `json:"message"`
	Locations  []sarifLocation `json:"locations,omitempty"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind,omitempty"`
}

func sarifLevel(s Severity) string {
	switch {
	case s >= High:
		return "error"
	case s == Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is the CVSS-like score code-scanning tools sort by.
var securitySeverity = map[Severity]string{Info: "0.0", Low: "3.0", Medium: "5.5", High: "8.0", Critical: "9.5"}

// WriteSARIF writes the findings as a SARIF 2.1.0 log with one run: every
// check is a rule, every finding a result located at its file and line
// (a logical location for running containers and the node).
func (r *Report) WriteSARIF(w io.Writer) error {
	fs := append([]Finding(nil), r.Findings...)
	Sort(fs)
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{
		Name:           "truesight posture",
		Version:        version.Version,
		InformationURI: "https://github.com/truesightsec/truesight/blob/main/docs/posture.md",
	}}, Results: []sarifResult{}}
	index := map[string]int{}
	for i, id := range CheckIDs() {
		c := Checks[id]
		index[id] = i
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
			ID: c.ID, Name: c.Name,
			ShortDescription:     sarifText{c.Name},
			FullDescription:      sarifText{c.Reason},
			Help:                 sarifText{"Add:\n" + c.Remediation},
			DefaultConfiguration: sarifConfig{sarifLevel(c.Severity)},
			Properties:           map[string]any{"security-severity": securitySeverity[c.Severity], "tags": []string{"security", "kubernetes"}},
		})
	}
	for _, f := range fs {
		msg := f.Reason
		if f.Message != "" {
			msg = f.Message + ": " + f.Reason
		}
		if f.Container != "" && f.File != "" {
			msg = f.Workload + " container " + f.Container + ": " + msg
		} else if f.File != "" {
			msg = f.Workload + ": " + msg
		}
		res := sarifResult{RuleID: f.Check, RuleIndex: index[f.Check], Level: sarifLevel(f.Severity), Message: sarifText{msg},
			Properties: map[string]any{"severity": f.Severity.String(), "remediation": f.Remediation}}
		loc := sarifLocation{}
		if f.File != "" {
			loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifact{URI: fileURI(f.File)}}
			if f.Line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line}
			}
		}
		name := f.Workload
		if f.Container != "" && !strings.HasPrefix(name, "container ") {
			name += "/" + f.Container
		}
		loc.LogicalLocations = []sarifLogical{{Name: name, Kind: "resource"}}
		res.Locations = []sarifLocation{loc}
		run.Results = append(run.Results, res)
	}
	log := sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(log)
}

// fileURI is a relative path as a URI reference, with forward slashes.
func fileURI(p string) string {
	if p == "-" {
		return "stdin"
	}
	return filepath.ToSlash(p)
}
