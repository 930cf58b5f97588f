package output

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/truesightsec/truesight/internal/fields"
)

// Alert is one rule match, ready to be written.
type Alert struct {
	Time     int64 // nanoseconds since the epoch: the event's time
	Rule     string
	Priority string // capitalised as Falco prints it: Warning, Informational
	Source   string
	Tags     []string
	Hostname string
	// Message is the rule's formatted output.
	Message string
	// Fields are the output's fields with typed values (nil when missing).
	Fields map[string]any
}

// TextOptions select the text alert's time format.
type TextOptions struct {
	// ISO8601 prints 2016-08-04T16:17:57.881781397+0000 instead of
	// 16:17:57.881781397.
	ISO8601 bool
	// Location is the time zone of the timestamp (default: local).
	Location *time.Location
}

// Text returns Falco's text alert line: "<time>: <Priority> <output>".
func (a *Alert) Text(o TextOptions) string {
	loc := o.Location
	if loc == nil {
		loc = time.Local
	}
	t := time.Unix(0, a.Time).In(loc)
	var b strings.Builder
	if o.ISO8601 {
		b.WriteString(t.Format("2006-01-02T15:04:05.000000000-0700"))
	} else {
		b.WriteString(t.Format("15:04:05.000000000"))
	}
	b.WriteString(": ")
	b.WriteString(a.Priority)
	b.WriteByte(' ')
	b.WriteString(a.Message)
	return b.String()
}

// JSONOptions mirror Falco's json_include_* settings.
type JSONOptions struct {
	Text             TextOptions
	OmitOutput       bool // json_include_output_property: false
	OmitTags         bool // json_include_tags_property: false
	OmitOutputFields bool // json_include_output_fields_property: false
	// IncludeMessage adds "message", the rule's output without the time
	// and priority that "output" starts with (json_include_message_property).
	IncludeMessage bool
}

// jsonAlert has its keys in sorted order, as Falco writes them.
type jsonAlert struct {
	Hostname     string          `json:"hostname"`
	Message      *string         `json:"message,omitempty"`
	Output       *string         `json:"output,omitempty"`
	OutputFields *map[string]any `json:"output_fields,omitempty"`
	Priority     string          `json:"priority"`
	Rule         string          `json:"rule"`
	Source       string          `json:"source"`
	Tags         *[]string       `json:"tags,omitempty"`
	Time         string          `json:"time"`
}

// JSON returns Falco's JSON alert object (one line, no trailing newline).
func (a *Alert) JSON(o JSONOptions) []byte {
	j := jsonAlert{
		Hostname: a.Hostname,
		Priority: a.Priority,
		Rule:     a.Rule,
		Source:   a.Source,
		Time:     fields.ISOTime(a.Time),
	}
	if !o.OmitOutput {
		s := a.Text(o.Text)
		j.Output = &s
	}
	if o.IncludeMessage {
		j.Message = &a.Message
	}
	if !o.OmitOutputFields {
		m := a.Fields
		if m == nil {
			m = map[string]any{}
		}
		j.OutputFields = &m
	}
	if !o.OmitTags {
		tags := append([]string{}, a.Tags...)
		slices.Sort(tags)
		j.Tags = &tags
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Falco writes <NA> and -> literally.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		// Values are strings, numbers, bools and nil: encoding cannot fail.
		panic("output: encode alert: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Detach copies the alert's text, which may point into memory the event
// source reuses for the next event, so the alert can outlive the event.
func (a *Alert) Detach() {
	a.Message = strings.Clone(a.Message)
	for k, v := range a.Fields {
		if s, ok := v.(string); ok {
			a.Fields[k] = strings.Clone(s)
		}
	}
}
