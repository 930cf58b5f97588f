package output

import (
	"context"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// ColourMode says when the stdout sink colours alerts by priority.
type ColourMode int

// Colour modes.
const (
	ColourAuto   ColourMode = iota // only when the writer is a terminal
	ColourAlways                   // always, e.g. for a terminal behind a pipe
	ColourNever
)

// StdoutOptions configure a StdoutSink.
type StdoutOptions struct {
	Encoding Encoding
	Colour   ColourMode
	// Writer is where alerts go; nil means os.Stdout.
	Writer io.Writer
}

// StdoutSink writes one alert per line to standard output, coloured by
// priority on a terminal.
type StdoutSink struct {
	w      io.Writer
	enc    Encoding
	colour bool
	buf    []byte
}

// NewStdoutSink returns a sink writing to o.Writer (default os.Stdout).
func NewStdoutSink(o StdoutOptions) *StdoutSink {
	w := o.Writer
	if w == nil {
		w = os.Stdout
	}
	colour := o.Colour == ColourAlways
	if o.Colour == ColourAuto {
		if f, ok := w.(*os.File); ok {
			colour = isTerminal(f)
		}
	}
	return &StdoutSink{w: w, enc: o.Encoding, colour: colour}
}

// isTerminal reports whether f is a terminal (it answers the TCGETS ioctl).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// priorityColour is the ANSI SGR sequence for each Falco priority: red for
// the severe ones, yellow for warnings, and quieter tones below.
var priorityColour = map[string]string{
	"Emergency":     "\x1b[1;31m",
	"Alert":         "\x1b[1;31m",
	"Critical":      "\x1b[1;31m",
	"Error":         "\x1b[31m",
	"Warning":       "\x1b[33m",
	"Notice":        "\x1b[36m",
	"Informational": "\x1b[32m",
	"Debug":         "\x1b[2m",
}

const colourReset = "\x1b[0m"

// Write buffers the alert's line; Flush writes it out.
func (s *StdoutSink) Write(_ context.Context, a *Alert) error {
	c := ""
	if s.colour {
		c = priorityColour[a.Priority]
	}
	s.buf = append(s.buf, c...)
	s.buf = s.enc.AppendLine(s.buf, a)
	if c != "" {
		s.buf = append(s.buf, colourReset...)
	}
	s.buf = append(s.buf, '\n')
	return nil
}

// Flush writes the buffered lines.
func (s *StdoutSink) Flush() error {
	_, err := s.w.Write(s.buf)
	s.buf = s.buf[:0]
	return err
}

// Close does nothing: standard output stays open for the process.
func (s *StdoutSink) Close() error { return nil }
