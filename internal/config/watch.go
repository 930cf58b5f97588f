package config

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Watch polls files and directories (rules_files, the configuration file)
// every interval and calls changed once they have changed and then stayed
// the same for one more interval, so that a file caught half-written is not
// reloaded. A directory counts with its .yaml and .yml files. Polling,
// unlike inotify, follows the symlink swap by which Kubernetes updates a
// mounted ConfigMap. Watch returns when ctx is done.
func Watch(ctx context.Context, paths []string, interval time.Duration, changed func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	last := fingerprint(paths)
	pending := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := fingerprint(paths)
		switch {
		case !slices.Equal(now, last):
			pending = true
		case pending:
			pending = false
			changed()
		}
		last = now
	}
}

// fileState identifies one version of a file.
type fileState struct {
	path  string
	ino   uint64
	size  int64
	mtime int64
	ok    bool
}

// fingerprint is the state of every watched file, in a stable order.
func fingerprint(paths []string) []fileState {
	var out []fileState
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			out = append(out, fileState{path: p})
			continue
		}
		if !fi.IsDir() {
			out = append(out, state(p, fi))
			continue
		}
		files, err := RulesFilesIn(p)
		if err != nil {
			out = append(out, fileState{path: p})
			continue
		}
		for _, full := range files {
			if fi, err := os.Stat(full); err == nil {
				out = append(out, state(full, fi))
			}
		}
	}
	return out
}

// RulesFilesIn are the rules files a rules_files directory holds: its
// .yaml and .yml files (symbolic links followed, as a Kubernetes
// ConfigMap's are), in name order.
func RulesFilesIn(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml") {
			continue
		}
		full := filepath.Join(dir, name)
		if fi, err := os.Stat(full); err == nil && !fi.IsDir() {
			out = append(out, full)
		}
	}
	return out, nil
}

func state(path string, fi os.FileInfo) fileState {
	s := fileState{path: path, size: fi.Size(), mtime: fi.ModTime().UnixNano(), ok: true}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s
}
