package fim

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// The database's top-level buckets.
var (
	bucketBaselines = []byte("baselines") // id -> Baseline
	bucketEntries   = []byte("entries")   // id -> bucket of path -> Entry
	bucketAccepted  = []byte("accepted")  // container full id -> bucket of path -> Entry (or a deletion)
	bucketLog       = []byte("log")       // sequence -> LogRecord
)

// Baseline describes one baselined tree: a container image's lower layer
// or a host path.
type Baseline struct {
	ID   string `json:"id"`
	Kind string `json:"kind"` // "layer" or "host"
	// Path is the tree's root on the host (a layer: the lowerdir with its
	// symlinks resolved).
	Path string `json:"path"`
	// Dev and Inode identify a layer's directory with Path.
	Dev   uint64 `json:"dev,omitempty"`
	Inode uint64 `json:"inode,omitempty"`
	// Images are the image digests (or names) of the containers the
	// layer was first seen in.
	Images  []string  `json:"images,omitempty"`
	Created time.Time `json:"created"`
	Entries int       `json:"entries"`
	Bytes   int64     `json:"bytes"`
	// Seal is the HMAC over the HMACs of every entry in path order: a
	// record added or removed by hand breaks it.
	Seal []byte `json:"seal"`
}

// LogRecord is one explicit change to the database (an accepted change).
type LogRecord struct {
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	Baseline string    `json:"baseline"`
	Path     string    `json:"path"`
	Kind     Kind      `json:"kind,omitempty"`
	User     string    `json:"user,omitempty"`
}

// Store is the FIM database: one bbolt file whose every record carries an
// HMAC-SHA256 under a key kept in a separate file.
type Store struct {
	db   *bolt.DB
	key  []byte
	path string
}

// LoadKey reads the HMAC key at path, or creates it (32 random bytes, mode
// 0600, its directory 0700) when it does not exist. A key that others can
// read or write is refused: whoever holds it can forge baselines.
func LoadKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("create FIM key %s: %w", path, err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create FIM key %s: %w", path, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create FIM key %s: %w", path, err)
		}
		_, err = f.Write(key)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("write FIM key %s: %w", path, err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read FIM key %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read FIM key %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("FIM key %s has mode %04o: others may read or change it; run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("FIM key %s holds %d bytes, at least 16 are needed; remove it to have a new one made (then run truesight fim init)", path, len(key))
	}
	return key, nil
}

// ErrCorrupt marks a database that cannot be read as a bbolt file.
var ErrCorrupt = errors.New("FIM database is corrupt")

// OpenStore opens (or creates) the database at path, checking its
// structure first: a truncated or corrupt file is an error wrapping
// ErrCorrupt, never a panic.
func OpenStore(path string, key []byte, readOnly bool) (s *Store, err error) {
	if err := checkFile(path); err != nil {
		return nil, err
	}
	if !readOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create FIM database directory: %w", err)
		}
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%w: %s: %v; restore it from a backup or move it away and run truesight fim init", ErrCorrupt, path, r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: readOnly})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open FIM database %s: another process holds it (a running agent?): %w", path, err)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open FIM database %s: it does not exist; run truesight fim init first", path)
		}
		return nil, fmt.Errorf("%w: open %s: %v; restore it from a backup or move it away and run truesight fim init", ErrCorrupt, path, err)
	}
	s = &Store{db: db, key: key, path: path}
	if err := s.check(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if !readOnly {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketBaselines, bucketEntries, bucketAccepted, bucketLog} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("prepare FIM database %s: %w", path, err)
		}
	}
	return s, nil
}

// check reads every bucket and record of the database in this goroutine,
// so a corrupt page is a recovered panic (SetPanicOnFault turns a read
// past the end of the mapped file into one too), never a crash.
func (s *Store) check() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v; restore it from a backup or move it away and run truesight fim init", ErrCorrupt, s.path, r)
		}
	}()
	return s.db.View(func(tx *bolt.Tx) error {
		var visit func(b *bolt.Bucket) error
		visit = func(b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if v == nil {
					if nb := b.Bucket(k); nb != nil {
						return visit(nb)
					}
				}
				return nil
			})
		}
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return visit(b) })
	})
}

// checkFile reads the two meta pages of a bbolt file and makes sure the
// file holds every page they count: bbolt maps the file and would crash on
// a page past a truncated end.
func checkFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // bbolt's own open says what is wrong
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s; restore it from a backup or move it away and run truesight fim init", ErrCorrupt, path, fmt.Sprintf(format, args...))
	}
	if st.Size() == 0 {
		return bad("the file is empty")
	}
	var best *boltMeta
	for i := range 2 {
		off := int64(0)
		if i == 1 {
			if best == nil {
				break
			}
			off = int64(best.pageSize)
		}
		buf := make([]byte, 16+64)
		if _, err := f.ReadAt(buf, off); err != nil {
			continue
		}
		if m, ok := parseBoltMeta(buf[16:]); ok && (best == nil || m.txid > best.txid) {
			best = &m
		}
	}
	if best == nil {
		return bad("no valid meta page (not a bbolt database, or its first pages are damaged)")
	}
	if need := int64(best.pgid) * int64(best.pageSize); st.Size() < need {
		return bad("truncated: %d bytes, its meta page counts %d pages of %d bytes (%d bytes)", st.Size(), best.pgid, best.pageSize, need)
	}
	return nil
}

type boltMeta struct {
	pageSize   uint32
	pgid, txid uint64
}

// parseBoltMeta decodes bbolt's meta (magic, version, page size, flags,
// root bucket, freelist, pgid, txid, checksum) and verifies its FNV-64a
// checksum.
func parseBoltMeta(b []byte) (boltMeta, bool) {
	le := binary.LittleEndian
	if len(b) < 64 || le.Uint32(b[0:]) != 0xED0CDAED || le.Uint32(b[4:]) != 2 {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != le.Uint64(b[56:]) {
		return boltMeta{}, false
	}
	m := boltMeta{pageSize: le.Uint32(b[8:]), pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<20 {
		return boltMeta{}, false
	}
	return m, true
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// mac is the HMAC of one record: where it lives (bucket path and key)
// and what it holds, so a record moved to another key fails too.
func (s *Store) mac(where []byte, key, payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	writeField(m, where)
	writeField(m, key)
	m.Write(payload)
	return m.Sum(nil)
}

func writeField(h hash.Hash, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// seal returns the record's value: its HMAC, then its payload.
func (s *Store) seal(where, key, payload []byte) []byte {
	return append(s.mac(where, key, payload), payload...)
}

// errTampered is a record whose HMAC does not verify.
var errTampered = errors.New("HMAC does not verify")

// open verifies a record and returns its payload.
func (s *Store) open(where, key, value []byte) ([]byte, error) {
	if len(value) < sha256.Size {
		return nil, fmt.Errorf("record %q of %s: %d bytes, shorter than its HMAC: %w", key, bytes.TrimSuffix(where, []byte("/")), len(value), errTampered)
	}
	if !hmac.Equal(value[:sha256.Size], s.mac(where, key, value[sha256.Size:])) {
		return nil, fmt.Errorf("record %q of %s: %w", key, bytes.TrimSuffix(where, []byte("/")), errTampered)
	}
	return value[sha256.Size:], nil
}

// Baselines lists the baselines, with the records that do not verify.
func (s *Store) Baselines() ([]*Baseline, []error, error) {
	var out []*Baseline
	var bad []error
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBaselines)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			bl, err := s.decodeBaseline(k, v)
			if err != nil {
				bad = append(bad, err)
				return nil
			}
			out = append(out, bl)
			return nil
		})
	})
	return out, bad, err
}

func (s *Store) decodeBaseline(k, v []byte) (*Baseline, error) {
	p, err := s.open(bucketBaselines, k, v)
	if err != nil {
		return nil, err
	}
	bl := &Baseline{}
	if err := json.Unmarshal(p, bl); err != nil {
		return nil, fmt.Errorf("record baselines/%s: %w", k, err)
	}
	return bl, nil
}

// Baseline returns the baseline id; nil when there is none.
func (s *Store) Baseline(id string) (*Baseline, error) {
	var bl *Baseline
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketBaselines).Get([]byte(id))
		if v == nil {
			return nil
		}
		var err error
		bl, err = s.decodeBaseline([]byte(id), v)
		return err
	})
	return bl, err
}

// view runs fn in a read transaction, turning a panic of a corrupt page
// into an error.
func (s *Store) view(fn func(tx *bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, s.path, r)
		}
	}()
	return s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketBaselines) == nil || tx.Bucket(bucketEntries) == nil {
			return fmt.Errorf("%s is not a truesight FIM database (no baselines); run truesight fim init", s.path)
		}
		return fn(tx)
	})
}

func (s *Store) update(fn func(tx *bolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, s.path, r)
		}
	}()
	return s.db.Update(fn)
}

// PutBaseline replaces baseline bl with entries (bl.Entries, Bytes and
// Seal are computed here).
func (s *Store) PutBaseline(bl *Baseline, entries []*Entry) error {
	return s.update(func(tx *bolt.Tx) error {
		eb := tx.Bucket(bucketEntries)
		id := []byte(bl.ID)
		if eb.Bucket(id) != nil {
			if err := eb.DeleteBucket(id); err != nil {
				return err
			}
		}
		b, err := eb.CreateBucket(id)
		if err != nil {
			return fmt.Errorf("baseline %s: %w", bl.ID, err)
		}
		b.FillPercent = 0.9
		where := append(append([]byte("entries/"), id...), '/')
		bl.Entries, bl.Bytes = 0, 0
		for _, e := range entries {
			p, err := encodeEntry(e)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(e.Path), s.seal(where, []byte(e.Path), p)); err != nil {
				return err
			}
			bl.Entries++
			if e.Type == TypeFile {
				bl.Bytes += e.Size
			}
		}
		bl.Seal = s.sealOf(b, where)
		return s.putBaselineRecord(tx, bl)
	})
}

func (s *Store) putBaselineRecord(tx *bolt.Tx, bl *Baseline) error {
	p, err := json.Marshal(bl)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketBaselines).Put([]byte(bl.ID), s.seal(bucketBaselines, []byte(bl.ID), p))
}

// sealOf is the HMAC over every record's HMAC and key, in key order.
func (s *Store) sealOf(b *bolt.Bucket, where []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	writeField(m, where)
	_ = b.ForEach(func(k, v []byte) error {
		writeField(m, k)
		if len(v) >= sha256.Size {
			m.Write(v[:sha256.Size])
		}
		return nil
	})
	return m.Sum(nil)
}

// Problem is a record of a baseline that does not verify.
type Problem struct {
	Baseline string
	Path     string // "" for the baseline as a whole (its seal)
	Err      error
}

// Lookup is a read transaction over the baselines: random access to
// entries by path, for drift checks that touch only what changed.
type Lookup struct {
	s  *Store
	tx *bolt.Tx
}

// Read runs fn with a Lookup.
func (s *Store) Read(fn func(l *Lookup) error) error {
	return s.view(func(tx *bolt.Tx) error { return fn(&Lookup{s: s, tx: tx}) })
}

// Get returns the entry at path of baseline id (nil when it has none),
// or an error wrapping errTampered.
func (l *Lookup) Get(id, path string) (*Entry, error) {
	b := l.tx.Bucket(bucketEntries).Bucket([]byte(id))
	if b == nil {
		return nil, fmt.Errorf("baseline %s has no entries bucket: %w", id, errTampered)
	}
	v := b.Get([]byte(path))
	if v == nil {
		return nil, nil
	}
	return l.s.decodeEntry(id, []byte(path), v)
}

func (s *Store) decodeEntry(id string, k, v []byte) (*Entry, error) {
	where := []byte("entries/" + id + "/")
	p, err := s.open(where, k, v)
	if err != nil {
		return nil, err
	}
	e, err := decodeEntry(p)
	if err != nil {
		return nil, fmt.Errorf("record %q of %s: %w", k, bytes.TrimSuffix(where, []byte("/")), err)
	}
	if e.Path != string(k) {
		return nil, fmt.Errorf("record %q of %s holds path %s: %w", k, bytes.TrimSuffix(where, []byte("/")), e.Path, errTampered)
	}
	return e, nil
}

// Under calls fn with every entry of baseline id at or below dir.
// Records that do not verify are passed as problems.
func (l *Lookup) Under(id, dir string, fn func(e *Entry), bad func(Problem)) {
	b := l.tx.Bucket(bucketEntries).Bucket([]byte(id))
	if b == nil {
		return
	}
	prefix := []byte(dir)
	if dir != "/" {
		prefix = append(prefix, '/')
	}
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		e, err := l.s.decodeEntry(id, k, v)
		if err != nil {
			bad(Problem{Baseline: id, Path: string(k), Err: err})
			continue
		}
		fn(e)
	}
}

// All calls fn with every entry of baseline bl, and bad with every record
// that does not verify and with a seal that does not match (records added
// or removed by hand).
func (l *Lookup) All(bl *Baseline, fn func(e *Entry), bad func(Problem)) {
	b := l.tx.Bucket(bucketEntries).Bucket([]byte(bl.ID))
	if b == nil {
		bad(Problem{Baseline: bl.ID, Err: fmt.Errorf("baseline %s lost its entries: %w", bl.ID, errTampered)})
		return
	}
	_ = b.ForEach(func(k, v []byte) error {
		e, err := l.s.decodeEntry(bl.ID, k, v)
		if err != nil {
			bad(Problem{Baseline: bl.ID, Path: string(k), Err: err})
			return nil
		}
		fn(e)
		return nil
	})
	if !hmac.Equal(l.s.sealOf(b, []byte("entries/"+bl.ID+"/")), bl.Seal) {
		bad(Problem{Baseline: bl.ID, Err: fmt.Errorf("baseline %s: records were added or removed outside truesight (seal does not match): %w", bl.ID, errTampered)})
	}
}

// Accepted returns the change accepted for path in container id: the
// entry it may have now, or deleted true when its deletion was accepted.
func (l *Lookup) Accepted(containerID, path string) (e *Entry, deleted, ok bool, err error) {
	b := l.tx.Bucket(bucketAccepted)
	if b == nil {
		return nil, false, false, nil
	}
	cb := b.Bucket([]byte(containerID))
	if cb == nil {
		return nil, false, false, nil
	}
	v := cb.Get([]byte(path))
	if v == nil {
		return nil, false, false, nil
	}
	where := []byte("accepted/" + containerID + "/")
	p, err := l.s.open(where, []byte(path), v)
	if err != nil {
		return nil, false, true, err
	}
	if len(p) == 0 {
		return nil, true, true, nil
	}
	e, err = decodeEntry(p)
	return e, false, true, err
}

// AcceptHost (by user, for the log) makes now the baseline entry of path in host baseline bl
// (nil now: the file's deletion is accepted), reseals it and logs it.
func (s *Store) AcceptHost(bl *Baseline, path string, now *Entry, kind Kind, user string) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries).Bucket([]byte(bl.ID))
		if b == nil {
			return fmt.Errorf("baseline %s has no entries; run truesight fim init", bl.ID)
		}
		where := []byte("entries/" + bl.ID + "/")
		if now == nil {
			if err := b.Delete([]byte(path)); err != nil {
				return err
			}
		} else {
			p, err := encodeEntry(now)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(path), s.seal(where, []byte(path), p)); err != nil {
				return err
			}
		}
		bl.Seal = s.sealOf(b, where)
		bl.Entries = b.Stats().KeyN
		if err := s.putBaselineRecord(tx, bl); err != nil {
			return err
		}
		return s.log(tx, LogRecord{Action: "accept", Baseline: bl.ID, Path: path, Kind: kind, User: user})
	})
}

// AcceptContainer (by user, for the log) records now (nil: a deletion) as the accepted state of
// path in container id, and logs it.
func (s *Store) AcceptContainer(containerID, path string, now *Entry, kind Kind, user string) error {
	return s.update(func(tx *bolt.Tx) error {
		cb, err := tx.Bucket(bucketAccepted).CreateBucketIfNotExists([]byte(containerID))
		if err != nil {
			return err
		}
		var p []byte
		if now != nil {
			if p, err = encodeEntry(now); err != nil {
				return err
			}
		}
		where := []byte("accepted/" + containerID + "/")
		if err := cb.Put([]byte(path), s.seal(where, []byte(path), p)); err != nil {
			return err
		}
		return s.log(tx, LogRecord{Action: "accept", Baseline: "container/" + containerID, Path: path, Kind: kind, User: user})
	})
}

func (s *Store) log(tx *bolt.Tx, r LogRecord) error {
	b := tx.Bucket(bucketLog)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	p, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return b.Put(k[:], s.seal(bucketLog, k[:], p))
}

// Log returns the log of explicit changes, oldest first, and the records
// that do not verify.
func (s *Store) Log() ([]LogRecord, []error, error) {
	var out []LogRecord
	var bad []error
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLog)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			p, err := s.open(bucketLog, k, v)
			if err != nil {
				bad = append(bad, err)
				return nil
			}
			var r LogRecord
			if err := json.Unmarshal(p, &r); err != nil {
				bad = append(bad, err)
				return nil
			}
			out = append(out, r)
			return nil
		})
	})
	return out, bad, err
}
