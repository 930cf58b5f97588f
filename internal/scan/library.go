package scan

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// dirSymbols are the libc functions a process hider overrides: whoever
// answers them decides what ps, top and ls see in /proc.
var dirSymbols = []string{
	"readdir", "readdir64", "readdir_r", "readdir64_r", "opendir", "fdopendir",
	"scandir", "scandir64", "getdents", "getdents64",
}

// fileSymbols are the functions a file hider overrides to make its own
// files (the library, /etc/ld.so.preload) vanish or look clean.
var fileSymbols = []string{
	"fopen", "fopen64", "open", "open64", "openat", "openat64",
	"__open", "__open64", "__open_2", "__open64_2", "__openat_2", "__openat64_2",
	"stat", "stat64", "lstat", "lstat64", "fstatat", "fstatat64", "statx",
	"__xstat", "__xstat64", "__lxstat", "__lxstat64", "__fxstatat", "__fxstatat64",
	"unlink", "unlinkat",
}

var hidingSet = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range dirSymbols {
		m[s] = true
	}
	for _, s := range fileSymbols {
		m[s] = true
	}
	return m
}()

// library is what the scan learnt about one shared object file.
type library struct {
	ID     devIno
	SHA256 string
	Soname string
	// Symbols are the exported functions of the hiding set it defines, in
	// the order of the symbol table.
	Symbols []string
	// Exports counts every exported function: a real libc has thousands,
	// a hider a handful.
	Exports int
	// HidesDirs is set when it overrides a directory-reading function.
	HidesDirs bool
	Size      int64
	Mtime     int64 // ns since the epoch
	Ctime     int64
	UID       uint32
	Mode      uint32
	// Err says why the file could not be analysed (not ELF, too large).
	Err error
}

// fileID identifies a file's content without reading it.
type fileID struct {
	Dev, Ino     uint64
	Size         int64
	Mtime, Ctime int64
}

func idOf(st *unix.Stat_t) fileID {
	return fileID{Dev: st.Dev, Ino: st.Ino, Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
}

// Bounds on what one file may cost.
const (
	maxLibrarySize = 512 << 20 // hashed and parsed at most
	maxPhdrs       = 512
	maxDynamic     = 1 << 16 // bytes of PT_DYNAMIC
	maxSymbols     = 1 << 20
	maxStrtab      = 32 << 20
	libCacheSize   = 8192
)

// libraryCache analyses each distinct file once, keyed by its identity, so
// that continuous scans only pay for new or changed files.
type libraryCache struct {
	mu   sync.Mutex
	libs map[fileID]*library
}

func newLibraryCache() *libraryCache { return &libraryCache{libs: map[fileID]*library{}} }

// analyse returns the analysis of the open file fd. The file is hashed
// when it overrides a hiding function or when always is set (a configured
// preload library); hashing every library every process maps would cost
// more than the rest of the scan.
func (c *libraryCache) analyse(fd int, always bool) (*library, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	id := idOf(&st)
	c.mu.Lock()
	l := c.libs[id]
	c.mu.Unlock()
	if l == nil {
		l = &library{ID: devIno{st.Dev, st.Ino}, Size: st.Size, Mtime: id.Mtime, Ctime: id.Ctime, UID: st.Uid, Mode: st.Mode}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			l.Err = errNotRegular
		} else if st.Size > maxLibrarySize {
			l.Err = fmt.Errorf("%d bytes exceed the %d-byte limit", st.Size, maxLibrarySize)
		} else {
			l.Soname, l.Symbols, l.Exports, l.Err = dynamicExports(fdReader(fd), st.Size)
			for _, s := range l.Symbols {
				if slices.Contains(dirSymbols, s) {
					l.HidesDirs = true
				}
			}
		}
		c.mu.Lock()
		if len(c.libs) >= libCacheSize {
			c.libs = map[fileID]*library{}
		}
		c.libs[id] = l
		c.mu.Unlock()
	}
	c.mu.Lock()
	need := l.SHA256 == "" && (always || len(l.Symbols) > 0) && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size <= maxLibrarySize
	c.mu.Unlock()
	if need {
		sum, err := hashReader(fdReader(fd), st.Size)
		c.mu.Lock()
		if err == nil {
			l.SHA256 = sum
		} else if l.Err == nil {
			l.Err = err
		}
		c.mu.Unlock()
	}
	return l, nil
}

// hashCache remembers sha256 sums by file identity.
type hashCache struct {
	mu   sync.Mutex
	sums map[fileID]string
}

func newHashCache() *hashCache { return &hashCache{sums: map[fileID]string{}} }

func (c *hashCache) sum(fd int) (string, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return "", errNotRegular
	}
	id := idOf(&st)
	c.mu.Lock()
	s, ok := c.sums[id]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	if st.Size > maxLibrarySize {
		return "", fmt.Errorf("%d bytes exceed the %d-byte limit", st.Size, maxLibrarySize)
	}
	s, err := hashReader(fdReader(fd), st.Size)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if len(c.sums) >= libCacheSize {
		c.sums = map[fileID]string{}
	}
	c.sums[id] = s
	c.mu.Unlock()
	return s, nil
}

// fdReader reads a file by offset without moving or owning the fd.
type fdReader int

func (f fdReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Pread(int(f), p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, errShort
		}
		n += m
	}
	return n, nil
}

var errShort = errors.New("unexpected end of file")

func hashReader(r fdReader, size int64) (string, error) {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for off := int64(0); off < size; {
		n := min(int64(len(buf)), size-off)
		if _, err := r.ReadAt(buf[:n], off); err != nil {
			return "", fmt.Errorf("hash: %w", err)
		}
		h.Write(buf[:n])
		off += n
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// dynamicExports reads the dynamic symbol table the way the loader finds
// it, through the PT_DYNAMIC segment, not the section headers (which a
// hider can strip or forge), and returns the DT_SONAME, the exported
// functions of the hiding set and the number of exported functions.
func dynamicExports(r fdReader, size int64) (soname string, hiding []string, exports int, err error) {
	var ident [elf.EI_NIDENT]byte
	if _, err := r.ReadAt(ident[:], 0); err != nil {
		return "", nil, 0, errors.New("not an ELF file")
	}
	if !bytes.Equal(ident[:4], []byte(elf.ELFMAG)) {
		return "", nil, 0, errors.New("not an ELF file")
	}
	if elf.Class(ident[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(ident[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return "", nil, 0, errors.New("not a little-endian 64-bit ELF file")
	}
	le := binary.LittleEndian
	var hdr elf.Header64
	hb := make([]byte, binary.Size(hdr))
	if _, err := r.ReadAt(hb, 0); err != nil {
		return "", nil, 0, fmt.Errorf("ELF header: %w", err)
	}
	if _, err := binary.Decode(hb, le, &hdr); err != nil {
		return "", nil, 0, fmt.Errorf("ELF header: %w", err)
	}
	if hdr.Phnum == 0 || hdr.Phnum > maxPhdrs || hdr.Phentsize != uint16(binary.Size(elf.Prog64{})) {
		return "", nil, 0, fmt.Errorf("ELF: %d program headers of %d bytes", hdr.Phnum, hdr.Phentsize)
	}
	phb := make([]byte, int(hdr.Phnum)*int(hdr.Phentsize))
	if _, err := r.ReadAt(phb, int64(hdr.Phoff)); err != nil {
		return "", nil, 0, fmt.Errorf("ELF program headers: %w", err)
	}
	progs := make([]elf.Prog64, hdr.Phnum)
	if _, err := binary.Decode(phb, le, progs); err != nil {
		return "", nil, 0, fmt.Errorf("ELF program headers: %w", err)
	}
	var dyn *elf.Prog64
	for i := range progs {
		if elf.ProgType(progs[i].Type) == elf.PT_DYNAMIC {
			dyn = &progs[i]
		}
	}
	if dyn == nil {
		return "", nil, 0, nil // static: exports nothing to the loader
	}
	// toOff maps a virtual address to a file offset through PT_LOAD.
	toOff := func(addr uint64) (int64, bool) {
		for i := range progs {
			p := &progs[i]
			if elf.ProgType(p.Type) == elf.PT_LOAD && addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
				off := int64(addr - p.Vaddr + p.Off)
				return off, off >= 0 && off < size
			}
		}
		return 0, false
	}
	if dyn.Filesz > maxDynamic || int64(dyn.Off+dyn.Filesz) > size {
		return "", nil, 0, fmt.Errorf("ELF: PT_DYNAMIC of %d bytes at %d", dyn.Filesz, dyn.Off)
	}
	db := make([]byte, dyn.Filesz)
	if _, err := r.ReadAt(db, int64(dyn.Off)); err != nil {
		return "", nil, 0, fmt.Errorf("ELF dynamic segment: %w", err)
	}
	var symtab, strtab, strsz, hash, gnuHash, sonameOff uint64
	var hasSoname bool
	for len(db) >= 16 {
		tag, val := elf.DynTag(le.Uint64(db)), le.Uint64(db[8:])
		db = db[16:]
		switch tag {
		case elf.DT_NULL:
			db = nil
		case elf.DT_SYMTAB:
			symtab = val
		case elf.DT_STRTAB:
			strtab = val
		case elf.DT_STRSZ:
			strsz = val
		case elf.DT_HASH:
			hash = val
		case elf.DT_GNU_HASH:
			gnuHash = val
		case elf.DT_SONAME:
			sonameOff, hasSoname = val, true
		}
	}
	if symtab == 0 || strtab == 0 || strsz == 0 || strsz > maxStrtab {
		return "", nil, 0, nil
	}
	strOff, ok := toOff(strtab)
	if !ok || strOff+int64(strsz) > size {
		return "", nil, 0, errors.New("ELF: string table outside the file")
	}
	strs := make([]byte, strsz)
	if _, err := r.ReadAt(strs, strOff); err != nil {
		return "", nil, 0, fmt.Errorf("ELF string table: %w", err)
	}
	str := func(off uint64) string {
		if off >= uint64(len(strs)) {
			return ""
		}
		s := strs[off:]
		if i := bytes.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		return string(s)
	}
	if hasSoname {
		soname = str(sonameOff)
	}
	nsyms, err := symbolCount(r, toOff, hash, gnuHash)
	if err != nil {
		return soname, nil, 0, err
	}
	symOff, ok := toOff(symtab)
	if !ok {
		return soname, nil, 0, errors.New("ELF: symbol table outside the file")
	}
	const symSize = 24
	if nsyms > maxSymbols || symOff+int64(nsyms)*symSize > size {
		return soname, nil, 0, fmt.Errorf("ELF: %d symbols do not fit the file", nsyms)
	}
	sb := make([]byte, nsyms*symSize)
	if _, err := r.ReadAt(sb, symOff); err != nil {
		return soname, nil, 0, fmt.Errorf("ELF symbol table: %w", err)
	}
	for i := 0; i < nsyms; i++ {
		s := sb[i*symSize:]
		name, info, shndx := le.Uint32(s), s[4], le.Uint16(s[6:])
		typ, bind := elf.SymType(info&0xf), elf.SymBind(info>>4)
		if shndx == uint16(elf.SHN_UNDEF) || (bind != elf.STB_GLOBAL && bind != elf.STB_WEAK) {
			continue
		}
		if typ != elf.STT_FUNC && typ != elf.STT_GNU_IFUNC {
			continue
		}
		exports++
		if n := str(uint64(name)); hidingSet[n] && !slices.Contains(hiding, n) {
			hiding = append(hiding, n)
		}
	}
	return soname, hiding, exports, nil
}

// symbolCount finds the number of dynamic symbols as the loader's hash
// tables imply it: DT_HASH's nchain, or past the last chain of DT_GNU_HASH.
func symbolCount(r fdReader, toOff func(uint64) (int64, bool), hash, gnuHash uint64) (int, error) {
	le := binary.LittleEndian
	if hash != 0 {
		off, ok := toOff(hash)
		if !ok {
			return 0, errors.New("ELF: DT_HASH outside the file")
		}
		var b [8]byte
		if _, err := r.ReadAt(b[:], off); err != nil {
			return 0, fmt.Errorf("ELF DT_HASH: %w", err)
		}
		return int(le.Uint32(b[4:])), nil
	}
	if gnuHash == 0 {
		return 0, errors.New("ELF: no DT_HASH or DT_GNU_HASH")
	}
	off, ok := toOff(gnuHash)
	if !ok {
		return 0, errors.New("ELF: DT_GNU_HASH outside the file")
	}
	var h [16]byte
	if _, err := r.ReadAt(h[:], off); err != nil {
		return 0, fmt.Errorf("ELF DT_GNU_HASH: %w", err)
	}
	nbuckets, symoffset, bloomSize := le.Uint32(h[:]), le.Uint32(h[4:]), le.Uint32(h[8:])
	if nbuckets > maxSymbols || bloomSize > maxSymbols {
		return 0, errors.New("ELF: DT_GNU_HASH too large")
	}
	bucketsOff := off + 16 + int64(bloomSize)*8
	bb := make([]byte, int(nbuckets)*4)
	if _, err := r.ReadAt(bb, bucketsOff); err != nil {
		return 0, fmt.Errorf("ELF DT_GNU_HASH buckets: %w", err)
	}
	last := uint32(0)
	for i := 0; i < int(nbuckets); i++ {
		last = max(last, le.Uint32(bb[i*4:]))
	}
	if last < symoffset {
		return int(symoffset), nil
	}
	chains := bucketsOff + int64(nbuckets)*4
	var c [4]byte
	for n := last; ; n++ {
		if n-symoffset > maxSymbols {
			return 0, errors.New("ELF: DT_GNU_HASH chain does not end")
		}
		if _, err := r.ReadAt(c[:], chains+int64(n-symoffset)*4); err != nil {
			return 0, fmt.Errorf("ELF DT_GNU_HASH chain: %w", err)
		}
		if le.Uint32(c[:])&1 != 0 {
			return int(n) + 1, nil
		}
	}
}
