// Package output turns a matched rule into an alert: it compiles a rule's
// output format (%field substitutions) against the field registry and
// renders Falco's text line and Falco's JSON object.
package output
