package rules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Severity tells whether a diagnostic stops the load.
type Severity int

// Severities. Any Error makes Load fail; warnings are informative.
const (
	Warning Severity = iota
	Error
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Code identifies the kind of problem a Diagnostic reports. Codes are stable
// names that tests and tools can match; Upstream gives Falco's coarser code.
type Code string

// Error codes.
const (
	ErrYAMLParse             Code = "ERROR_YAML_PARSE"               // not valid YAML
	ErrYAMLSchema            Code = "ERROR_YAML_SCHEMA"              // valid YAML of the wrong shape or type
	ErrMissingKey            Code = "ERROR_MISSING_KEY"              // a required key is absent
	ErrOverride              Code = "ERROR_OVERRIDE"                 // misuse of the override key
	ErrOverrideAppend        Code = "ERROR_OVERRIDE_APPEND"          // override and append: true together
	ErrNoPreviousList        Code = "ERROR_NO_PREVIOUS_LIST"         // appending to an undefined list
	ErrNoPreviousMacro       Code = "ERROR_NO_PREVIOUS_MACRO"        // appending to an undefined macro
	ErrNoPreviousRuleAppend  Code = "ERROR_NO_PREVIOUS_RULE_APPEND"  // appending to an undefined rule
	ErrNoPreviousRuleReplace Code = "ERROR_NO_PREVIOUS_RULE_REPLACE" // replacing keys of an undefined rule
	ErrNoPreviousRuleEnable  Code = "ERROR_NO_PREVIOUS_RULE_ENABLE"  // enabling an undefined rule
	ErrSourceMismatch        Code = "ERROR_SOURCE_MISMATCH"          // redefinition with another source
	ErrEngineVersion         Code = "ERROR_ENGINE_VERSION"           // required_engine_version unmet or unreadable
	ErrPluginVersion         Code = "ERROR_PLUGIN_VERSION"           // required_plugin_versions unmet or unreadable
	ErrPriority              Code = "ERROR_INVALID_PRIORITY"         // unknown priority name
	ErrException             Code = "ERROR_EXCEPTION"                // malformed exception
	ErrConditionSyntax       Code = "ERROR_CONDITION_SYNTAX"         // condition does not parse
	ErrConditionTooLarge     Code = "ERROR_CONDITION_TOO_LARGE"      // condition too long, or too big once expanded
	ErrUndefinedMacro        Code = "ERROR_UNDEFINED_MACRO"          // reference to a macro not visible here
	ErrMacroLoop             Code = "ERROR_MACRO_LOOP"               // macro refers to itself
	ErrUnknownField          Code = "ERROR_UNKNOWN_FIELD"            // condition field does not exist
	ErrUnknownEventType      Code = "ERROR_UNKNOWN_EVTTYPE"          // evt.type compared with an unknown name
	ErrOutput                Code = "ERROR_OUTPUT"                   // output format is invalid
	ErrValidate              Code = "ERROR_VALIDATE"                 // the engine rejected the rule
)

// Warning codes.
const (
	WarnAppend               Code = "WARNING_APPEND"                    // deprecated append: true
	WarnEnabled              Code = "WARNING_ENABLED"                   // deprecated enabled-only redefinition
	WarnNoEvttype            Code = "WARNING_NO_EVTTYPE"                // rule matches (nearly) every event type
	WarnUnknownSource        Code = "WARNING_UNKNOWN_SOURCE"            // rule skipped: source not available
	WarnUnknownFilter        Code = "WARNING_UNKNOWN_FILTER"            // rule skipped by skip-if-unknown-filter
	WarnUnusedMacro          Code = "WARNING_UNUSED_MACRO"              // macro never referenced
	WarnUnusedList           Code = "WARNING_UNUSED_LIST"               // list never referenced
	WarnUnknownItem          Code = "WARNING_UNKNOWN_ITEM"              // item of no known kind
	WarnUnknownKey           Code = "WARNING_UNKNOWN_KEY"               // key not valid for its item
	WarnAppendNoValues       Code = "WARNING_APPEND_NO_VALUES"          // exception override without values
	WarnExceptionNameReused  Code = "WARNING_EXCEPTION_NAME_REUSED"     // two exceptions share a name
	WarnInvalidMacroName     Code = "WARNING_INVALID_MACRO_NAME"        // macro name no condition can refer to
	WarnInvalidListName      Code = "WARNING_INVALID_LIST_NAME"         // list name no condition can refer to
	WarnValueIsField         Code = "WARNING_VALUE_IS_FIELD"            // constant that looks like a field
	WarnValueIsTransformer   Code = "WARNING_VALUE_IS_TRANSFORMER"      // constant that looks like a transformer
	WarnRegexSimple          Code = "WARNING_REGEX_SIMPLE"              // regex replaceable by a cheaper operator
	WarnUnsafeNACheck        Code = "WARNING_UNSAFE_NA_CHECK"           // comparison with <NA>
	WarnDeprecatedField      Code = "WARNING_DEPRECATED_FIELD"          // evt.dir, evt.latency, ...
	WarnDeprecatedContainerI Code = "WARNING_DEPRECATED_CONTAINER_INFO" // %container.info in output
)

var upstreamCodes = map[Code]string{
	ErrYAMLParse:             "LOAD_ERR_YAML_PARSE",
	ErrYAMLSchema:            "LOAD_ERR_YAML_VALIDATE",
	ErrMissingKey:            "LOAD_ERR_YAML_VALIDATE",
	ErrOverride:              "LOAD_ERR_YAML_VALIDATE",
	ErrOverrideAppend:        "LOAD_ERR_YAML_VALIDATE",
	ErrPriority:              "LOAD_ERR_YAML_VALIDATE",
	ErrNoPreviousList:        "LOAD_ERR_VALIDATE",
	ErrNoPreviousMacro:       "LOAD_ERR_VALIDATE",
	ErrNoPreviousRuleAppend:  "LOAD_ERR_VALIDATE",
	ErrNoPreviousRuleReplace: "LOAD_ERR_VALIDATE",
	ErrNoPreviousRuleEnable:  "LOAD_ERR_VALIDATE",
	ErrSourceMismatch:        "LOAD_ERR_VALIDATE",
	ErrEngineVersion:         "LOAD_ERR_VALIDATE",
	ErrPluginVersion:         "LOAD_ERR_VALIDATE",
	ErrException:             "LOAD_ERR_VALIDATE",
	ErrConditionSyntax:       "LOAD_ERR_COMPILE_CONDITION",
	ErrConditionTooLarge:     "LOAD_ERR_COMPILE_CONDITION",
	ErrUndefinedMacro:        "LOAD_ERR_VALIDATE",
	ErrMacroLoop:             "LOAD_ERR_VALIDATE",
	ErrUnknownField:          "LOAD_ERR_COMPILE_CONDITION",
	ErrUnknownEventType:      "LOAD_ERR_COMPILE_CONDITION",
	ErrOutput:                "LOAD_ERR_COMPILE_OUTPUT",
	ErrValidate:              "LOAD_ERR_VALIDATE",
	WarnAppend:               "LOAD_DEPRECATED_ITEM",
	WarnEnabled:              "LOAD_DEPRECATED_ITEM",
	WarnNoEvttype:            "LOAD_NO_EVTTYPE",
	WarnUnknownSource:        "LOAD_UNKNOWN_SOURCE",
	WarnUnknownFilter:        "LOAD_UNKNOWN_FILTER",
	WarnUnusedMacro:          "LOAD_UNUSED_MACRO",
	WarnUnusedList:           "LOAD_UNUSED_LIST",
	WarnUnknownItem:          "LOAD_UNKNOWN_ITEM",
	WarnUnknownKey:           "LOAD_UNKNOWN_KEY",
	WarnAppendNoValues:       "LOAD_APPEND_NO_VALUES",
	WarnExceptionNameReused:  "LOAD_EXCEPTION_NAME_NOT_UNIQUE",
	WarnInvalidMacroName:     "LOAD_INVALID_MACRO_NAME",
	WarnInvalidListName:      "LOAD_INVALID_LIST_NAME",
	WarnValueIsField:         "LOAD_COMPILE_CONDITION",
	WarnValueIsTransformer:   "LOAD_COMPILE_CONDITION",
	WarnRegexSimple:          "LOAD_COMPILE_CONDITION",
	WarnUnsafeNACheck:        "LOAD_UNSAFE_NA_CHECK",
	WarnDeprecatedField:      "LOAD_DEPRECATED_ITEM",
	WarnDeprecatedContainerI: "LOAD_DEPRECATED_ITEM",
}

// Upstream returns the load_result code Falco uses for this kind of problem
// (e.g. "LOAD_ERR_COMPILE_CONDITION"), for output meant to look like Falco's.
func (c Code) Upstream() string {
	if s, ok := upstreamCodes[c]; ok {
		return s
	}
	return string(c)
}

// Diagnostic is one error or warning found while loading rules. Line and
// Column are 1-based; zero means unknown. Column counts characters.
type Diagnostic struct {
	Severity Severity
	Code     Code
	File     string
	Line     int
	Column   int
	// ItemKind is "rule", "macro", "list", "required_engine_version",
	// "required_plugin_versions", or empty when no item is concerned.
	ItemKind string
	ItemName string
	Message  string
}

// String renders the diagnostic like a compiler message:
//
//	rules.yaml:12:14: rule "X": undefined macro 'foo' (...)
//	rules.yaml:3:3: warning: macro "m": macro is never used
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
		if d.Line > 0 {
			b.WriteString(":" + strconv.Itoa(d.Line))
			if d.Column > 0 {
				b.WriteString(":" + strconv.Itoa(d.Column))
			}
		}
		b.WriteString(": ")
	}
	if d.Severity == Warning {
		b.WriteString("warning: ")
	}
	if d.ItemKind != "" {
		b.WriteString(d.ItemKind)
		if d.ItemName != "" {
			b.WriteString(" " + strconv.Quote(d.ItemName))
		}
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// Error implements error, so a single Diagnostic can be returned as one.
func (d Diagnostic) Error() string { return d.String() }

// Diagnostics is everything a load reported, in the order found.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Errors returns only the errors.
func (ds Diagnostics) Errors() Diagnostics { return ds.filter(Error) }

// Warnings returns only the warnings.
func (ds Diagnostics) Warnings() Diagnostics { return ds.filter(Warning) }

func (ds Diagnostics) filter(s Severity) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

// Err returns nil when there are no errors, and otherwise an error joining
// every error diagnostic, one per line.
func (ds Diagnostics) Err() error {
	var errs []error
	for _, d := range ds {
		if d.Severity == Error {
			errs = append(errs, d)
		}
	}
	return errors.Join(errs...)
}

// String renders all diagnostics, one per line.
func (ds Diagnostics) String() string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintln(&b, d.String())
	}
	return b.String()
}
