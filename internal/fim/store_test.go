package fim

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func newStore(t *testing.T) (*Store, string, []byte) {
	t.Helper()
	dir := t.TempDir()
	key, err := LoadKey(filepath.Join(dir, "keys", "fim.key"))
	must(t, err)
	db := filepath.Join(dir, "fim.db")
	s, err := OpenStore(db, key, false)
	must(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, db, key
}

func TestLoadKeyCreatesAPrivateKeyOnceAndRefusesOneOthersCanRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "fim.key")
	k1, err := LoadKey(p)
	must(t, err)
	st, err := os.Stat(p)
	must(t, err)
	if len(k1) != 32 || st.Mode().Perm() != 0o600 {
		t.Fatalf("key of %d bytes, mode %v", len(k1), st.Mode())
	}
	k2, err := LoadKey(p)
	must(t, err)
	if string(k1) != string(k2) {
		t.Error("a second load made a new key")
	}
	must(t, os.Chmod(p, 0o644))
	if _, err := LoadKey(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable key: %v", err)
	}
}

// hostTree makes a small host tree and its baseline.
func hostTree(t *testing.T, s *Store) (*Monitor, string, *Baseline) {
	t.Helper()
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "cron.d"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "cron.d", "job"), []byte("* * * * * root true\n"), 0o644))
	m := &Monitor{Store: s}
	bl, err := m.BaselineHost(context.Background(), root)
	must(t, err)
	if bl.Entries != 4 {
		t.Fatalf("baseline of %d entries, want 4", bl.Entries)
	}
	return m, root, bl
}

func kinds(cs []Change) map[string]Kind {
	out := map[string]Kind{}
	for _, c := range cs {
		out[c.Path] = c.Kind
	}
	return out
}

func TestVerifyOfAHostTreeReportsEachChangeOnce(t *testing.T) {
	s, _, _ := newStore(t)
	m, root, bl := hostTree(t, s)
	cs, err := m.Verify(context.Background(), bl, false)
	must(t, err)
	if len(cs) != 0 {
		t.Fatalf("a clean tree has changes: %+v", cs)
	}
	must(t, os.WriteFile(filepath.Join(root, "passwd"), []byte("root:x:0:0::/root:/bin/sh\nevil:x:0:0::/:/bin/sh\n"), 0o644))
	must(t, os.Remove(filepath.Join(root, "cron.d", "job")))
	must(t, os.WriteFile(filepath.Join(root, "cron.d", "new"), []byte("x"), 0o644))
	cs, err = m.Verify(context.Background(), bl, false)
	must(t, err)
	want := map[string]Kind{"/passwd": Modified, "/cron.d/job": Deleted, "/cron.d/new": Added}
	if got := kinds(cs); len(got) != len(want) || got["/passwd"] != Modified || got["/cron.d/job"] != Deleted || got["/cron.d/new"] != Added {
		t.Errorf("changes = %v, want %v", got, want)
	}
	// Accepting the changes makes the tree clean again, and is logged.
	for _, c := range cs {
		must(t, s.AcceptHost(bl, c.Path, c.New, c.Kind, "test"))
	}
	cs, err = m.Verify(context.Background(), bl, false)
	must(t, err)
	if len(cs) != 0 {
		t.Errorf("after accepting: %+v", cs)
	}
	log, bad, err := s.Log()
	must(t, err)
	if len(log) != 3 || len(bad) != 0 || log[0].Action != "accept" {
		t.Errorf("log = %+v, bad %v", log, bad)
	}
}

// editRecord changes one stored record behind the store's back, as
// someone with write access to the file would.
func editRecord(t *testing.T, s *Store, db string, bucket []string, key string, edit func(v []byte) []byte) {
	t.Helper()
	must(t, s.Close())
	b, err := bolt.Open(db, 0o600, nil)
	must(t, err)
	err = b.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucket[0]))
		for _, n := range bucket[1:] {
			bk = bk.Bucket([]byte(n))
		}
		v := edit(append([]byte(nil), bk.Get([]byte(key))...))
		if v == nil {
			return bk.Delete([]byte(key))
		}
		return bk.Put([]byte(key), v)
	})
	must(t, err)
	must(t, b.Close())
}

func TestAHandEditedRecordIsReportedAsTampered(t *testing.T) {
	s, db, key := newStore(t)
	_, _, bl := hostTree(t, s)
	editRecord(t, s, db, []string{"entries", bl.ID}, "/passwd", func(v []byte) []byte {
		return []byte(strings.Replace(string(v), `"mode":420`, `"mode":2541`, 1))
	})
	s2, err := OpenStore(db, key, false)
	must(t, err)
	defer func() { _ = s2.Close() }()
	cs, err := (&Monitor{Store: s2}).Verify(context.Background(), bl, false)
	must(t, err)
	if len(cs) != 2 || cs[0].Kind != Tampered || cs[0].Path != "/passwd" || !strings.Contains(cs[0].Detail, "HMAC does not verify") {
		t.Fatalf("changes = %+v, want /passwd tampered first", cs)
	}
	// The record does not verify, so the file counts as new to the baseline.
	if cs[1].Kind != Added || cs[1].Path != "/passwd" {
		t.Errorf("second change %+v", cs[1])
	}
}

func TestARecordRemovedByHandBreaksTheBaselinesSeal(t *testing.T) {
	s, db, key := newStore(t)
	_, _, bl := hostTree(t, s)
	editRecord(t, s, db, []string{"entries", bl.ID}, "/cron.d/job", func([]byte) []byte { return nil })
	s2, err := OpenStore(db, key, false)
	must(t, err)
	defer func() { _ = s2.Close() }()
	cs, err := (&Monitor{Store: s2}).Verify(context.Background(), bl, false)
	must(t, err)
	got := kinds(cs)
	if len(cs) != 2 || got[""] != Tampered || got["/cron.d/job"] != Added || !strings.Contains(cs[0].Detail+cs[1].Detail, "seal does not match") {
		t.Errorf("changes = %+v", cs)
	}
}

func TestAnotherKeyFailsEveryRecord(t *testing.T) {
	s, db, _ := newStore(t)
	_, _, _ = hostTree(t, s)
	must(t, s.Close())
	s2, err := OpenStore(db, []byte("another key of 32 bytes........."), true)
	must(t, err)
	defer func() { _ = s2.Close() }()
	bls, bad, err := s2.Baselines()
	must(t, err)
	if len(bls) != 0 || len(bad) != 1 || !errors.Is(bad[0], errTampered) {
		t.Errorf("baselines %v, bad %v", bls, bad)
	}
}

func TestATruncatedOrCorruptDatabaseIsAClearErrorNotAPanic(t *testing.T) {
	s, db, key := newStore(t)
	_, _, _ = hostTree(t, s)
	must(t, s.Close())
	data, err := os.ReadFile(db)
	must(t, err)
	cases := map[string][]byte{
		"empty":            {},
		"truncated header": data[:100],
		"truncated pages":  data[:len(data)/2],
		"garbage":          []byte(strings.Repeat("not a database ", 2000)),
	}
	// A page in the middle overwritten with noise.
	noisy := append([]byte(nil), data...)
	for i := 2 * os.Getpagesize(); i < len(noisy) && i < 6*os.Getpagesize(); i++ {
		noisy[i] = byte(i * 7)
	}
	cases["noisy pages"] = noisy
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "fim.db")
			must(t, os.WriteFile(p, b, 0o600))
			s, err := OpenStore(p, key, true)
			if err == nil {
				_, _, err = s.Baselines()
				_ = s.Close()
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "truesight fim init") {
				t.Errorf("error %q does not say the database is corrupt, which, and what to do", err)
			}
		})
	}
}

func TestExcludedHostPathsAreNotWalkedAndOnlyInTheirOwnTree(t *testing.T) {
	s, _, _ := newStore(t)
	root := t.TempDir()
	other := t.TempDir()
	for _, d := range []string{root, other} {
		must(t, os.WriteFile(filepath.Join(d, "mtab"), []byte("x"), 0o644))
		must(t, os.WriteFile(filepath.Join(d, "kept"), []byte("y"), 0o644))
	}
	m := &Monitor{Store: s, HostExclude: []string{filepath.Join(root, "mtab")}}
	bl, err := m.BaselineHost(context.Background(), root)
	must(t, err)
	bl2, err := m.BaselineHost(context.Background(), other)
	must(t, err)
	if bl.Entries != 2 || bl2.Entries != 3 {
		t.Errorf("entries %d and %d, want 2 (root, kept) and 3", bl.Entries, bl2.Entries)
	}
	must(t, os.WriteFile(filepath.Join(root, "mtab"), []byte("changed"), 0o644))
	cs, err := m.Verify(context.Background(), bl, false)
	must(t, err)
	if len(cs) != 0 {
		t.Errorf("a change of an excluded file is reported: %+v", cs)
	}
}
