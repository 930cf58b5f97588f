package output

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
)

// FileOptions configure a FileSink.
type FileOptions struct {
	// Path is the file alerts are appended to; it is created if missing.
	Path     string
	Encoding Encoding
	// Mode is the permission of a created file; 0 means 0640 (alerts can
	// reveal what runs on the host).
	Mode os.FileMode
}

// FileSink appends one alert per line to a file. It is logrotate-friendly:
// it reopens the file when asked (SIGHUP, through Reopen) and by itself when
// the path no longer names the open file (renamed or deleted away), so new
// alerts go to the new file without a signal.
type FileSink struct {
	path   string
	mode   os.FileMode
	enc    Encoding
	f      *os.File
	fi     os.FileInfo // identity of f, to notice rotation
	buf    []byte
	reopen atomic.Bool
}

// NewFileSink opens (or creates) the file now, so that a bad path is
// reported at startup rather than at the first alert.
func NewFileSink(o FileOptions) (*FileSink, error) {
	s := &FileSink{path: o.Path, mode: o.Mode, enc: o.Encoding}
	if s.mode == 0 {
		s.mode = 0o640
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *FileSink) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, s.mode)
	if err != nil {
		return fmt.Errorf("open alert file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("open alert file: %w", err)
	}
	s.f, s.fi = f, fi
	return nil
}

// Reopen makes the sink close and reopen its file before the next write.
// It is safe to call from any goroutine.
func (s *FileSink) Reopen() { s.reopen.Store(true) }

// current makes sure s.f is the file that s.path names now. It costs one
// stat, and runs once per batch of buffered alerts.
func (s *FileSink) current() error {
	if s.f != nil && !s.reopen.Swap(false) {
		fi, err := os.Stat(s.path)
		if err == nil && os.SameFile(fi, s.fi) {
			return nil
		}
	}
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
	return s.open()
}

// Write buffers the alert's line; the first alert of a batch first checks
// that the file was not rotated away.
func (s *FileSink) Write(_ context.Context, a *Alert) error {
	if len(s.buf) == 0 {
		if err := s.current(); err != nil {
			return err
		}
	}
	s.buf = s.enc.AppendLine(s.buf, a)
	s.buf = append(s.buf, '\n')
	return nil
}

// Flush appends the buffered lines to the file with one write.
func (s *FileSink) Flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	defer func() { s.buf = s.buf[:0] }()
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if _, err := s.f.Write(s.buf); err != nil {
		return fmt.Errorf("write alert file: %w", err)
	}
	return nil
}

// Close flushes and closes the file.
func (s *FileSink) Close() error {
	err := s.Flush()
	if s.f != nil {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
		s.f = nil
	}
	return err
}
