package storage

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Large bodies live in files of their own under Dir/bodies, not in bbolt:
// a hit on one is sent from the kernel's page cache (sendfile when the
// connection allows it) instead of being copied out of bbolt's mapping into
// a fresh slice per request, which made a 100 KiB disk hit cost about
// 96 µs of CPU, half of it garbage collection.
//
// Layout: Dir/bodies/xx/<16 hex digits>, xx the id's first byte. The id is
// random (so it names no key, and a file never outlives its record under a
// reused name); the entry's encoding holds (id, size, CRC-32C of the
// body), its rowInfo holds (id, size) so that deletes, eviction and purges
// remove the file without decoding the value, and the files bucket maps id
// to key so that the sweep at Open finds orphans in O(files).
//
// Crash safety, in this order under the writer's txMu: the body is written
// to its final name and fsynced, the directory is fsynced, then the bbolt
// transaction that references it commits. A crash before the commit leaves
// a file no record names (an orphan, removed by the sweep); a record never
// names a partial file. Files of removed records are unlinked after their
// transaction commits; a crash in between leaves orphans too. A reader that
// opened a file keeps reading it after the unlink (POSIX); one that had the
// Entry but not yet the file gets an error and must treat the entry as a
// miss.
//
// Checksums: the CRC is computed from the bytes as they are written. A file
// is checked against its size at every open (fstat; a descriptor the
// fdCache keeps between hits is not checked again) and against its CRC
// once per id in a process: by the scrubber (scrub.go) or, when the
// scrubber has not reached it, at its first open (files written by this
// process are known good): a damaged file is reported as ErrCorrupt and
// never served.
// Damage to a file after that first check (bit rot while running) is not
// detected until the next restart.

// DefaultFileBodyMin is the body size from which the disk tier stores a
// body in a file of its own.
const DefaultFileBodyMin = 64 << 10

const (
	bodiesDir     = "bodies"
	fileRefLen    = 8 + 8 + 4 // id, size, crc: the body region of a file entry
	fileIDHexLen  = 16
	bodyFilePerm  = 0o600
	bodiesDirPerm = 0o700
)

// bodyFiles is the directory of a store's body files and what the process
// knows of them.
type bodyFiles struct {
	dir string // Dir/bodies
	min int64  // bodies of at least this many bytes go to files; 0: never
	// verified holds the ids whose CRC matched in this process (or that it
	// wrote): their later opens check the size alone.
	verified sync.Map // uint64 -> struct{}
	fds      *fdCache // descriptors kept open between hits
}

// fileRef names the file that holds an entry's body.
type fileRef struct {
	id    uint64
	size  int64
	crc   uint32
	key   string     // the key whose record owns the file
	files *bodyFiles // nil for a ref decoded without a store (Decode)
}

func (f *bodyFiles) path(id uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	name := hex.EncodeToString(b[:])
	return filepath.Join(f.dir, name[:2], name)
}

// openBodyFiles makes Dir/bodies and its 256 subdirectories.
func openBodyFiles(dir string, min int64) (*bodyFiles, error) {
	f := &bodyFiles{dir: filepath.Join(dir, bodiesDir), min: min, fds: newFDCache(defaultOpenFiles)}
	for i := range 256 {
		if err := os.MkdirAll(filepath.Join(f.dir, fmt.Sprintf("%02x", i)), bodiesDirPerm); err != nil {
			return nil, fmt.Errorf("body files: %w", err)
		}
	}
	return f, syncDir(f.dir)
}

// wants reports whether e's body goes to a file of its own.
func (f *bodyFiles) wants(e *Entry) bool {
	return f != nil && f.min > 0 && e.file == nil && int64(len(e.Body)) >= f.min && e.Vary == nil
}

// newID returns a random id (never 0: 0 marks "no file" nowhere, but a
// zero id would read as one).
func newID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// write stores body in a new file, fsynced, and returns its ref. The
// caller fsyncs the directory (syncDirs) before a record names it.
func (f *bodyFiles) write(key string, body []byte) (*fileRef, error) {
	ref := &fileRef{id: newID(), size: int64(len(body)), crc: crc32.Checksum(body, castagnoli), key: key, files: f}
	p := f.path(ref.id)
	file, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, bodyFilePerm)
	if err != nil {
		return nil, fmt.Errorf("body file: %w", err)
	}
	_, err = file.Write(body)
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(p)
		return nil, fmt.Errorf("body file %s: %w", p, err)
	}
	f.verified.Store(ref.id, struct{}{})
	return ref, nil
}

// link gives an existing file a second name (a new id) for another record,
// so that each record owns its file.
func (f *bodyFiles) link(src *fileRef, key string) (*fileRef, error) {
	ref := &fileRef{id: newID(), size: src.size, crc: src.crc, key: key, files: f}
	if err := os.Link(f.path(src.id), f.path(ref.id)); err != nil {
		return nil, fmt.Errorf("body file: %w", err)
	}
	if _, ok := f.verified.Load(src.id); ok {
		f.verified.Store(ref.id, struct{}{})
	}
	return ref, nil
}

// remove unlinks the files of ids; a missing one is not an error.
func (f *bodyFiles) remove(ids []uint64) {
	for _, id := range ids {
		_ = os.Remove(f.path(id))
		f.verified.Delete(id)
	}
	f.fds.drop(ids...) // after the unlinks: nothing opens these names again
}

// syncDirs fsyncs the subdirectories that hold refs, so that their new
// names survive a crash before a record names them.
func (f *bodyFiles) syncDirs(refs []*fileRef) error {
	done := make(map[string]bool)
	for _, r := range refs {
		d := filepath.Dir(f.path(r.id))
		if done[d] {
			continue
		}
		done[d] = true
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// wipe removes every body file (a hard purge of everything, a damaged
// store file replaced by an empty one).
func (f *bodyFiles) wipe() {
	_ = f.walk(func(id uint64, path string) bool {
		_ = os.Remove(path)
		f.verified.Delete(id)
		return true
	})
	f.fds.dropAll()
}

// walk calls fn with every body file's id and path until fn returns false.
// Names that are not ids are removed (a partial write of an older process
// under another name, a stray file).
func (f *bodyFiles) walk(fn func(id uint64, path string) bool) error {
	subs, err := os.ReadDir(f.dir)
	if err != nil {
		return fmt.Errorf("body files: %w", err)
	}
	for _, sub := range subs {
		if !sub.IsDir() {
			continue
		}
		names, err := os.ReadDir(filepath.Join(f.dir, sub.Name()))
		if err != nil {
			return fmt.Errorf("body files: %w", err)
		}
		for _, n := range names {
			p := filepath.Join(f.dir, sub.Name(), n.Name())
			id, ok := parseFileID(n.Name())
			if !ok || !strings.HasPrefix(n.Name(), sub.Name()) {
				_ = os.Remove(p)
				continue
			}
			if !fn(id, p) {
				return nil
			}
		}
	}
	return nil
}

func parseFileID(name string) (uint64, bool) {
	if len(name) != fileIDHexLen {
		return 0, false
	}
	b, err := hex.DecodeString(name)
	if err != nil {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// open opens the file of r after checking its size and, at the first open
// in this process, its CRC.
func (r *fileRef) open() (*os.File, error) {
	if r.files == nil {
		return nil, fmt.Errorf("body file %016x: no store: %w", r.id, ErrNotFound)
	}
	p := r.files.path(r.id)
	f, err := openRegular(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("body file %s: %w", p, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("body file: %w", err)
	}
	if err := r.checkSize(f, p); err != nil {
		f.Close()
		return nil, err
	}
	if _, ok := r.files.verified.Load(r.id); ok {
		return f, nil
	}
	if err := r.checkCRC(f, p); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("body file %s: %w", p, err)
	}
	r.files.verified.Store(r.id, struct{}{})
	return f, nil
}

// checkSize checks that f, the file of r at path p, holds r.size bytes.
func (r *fileRef) checkSize(f *os.File, p string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("body file: %w", err)
	}
	if fi.Size() != r.size {
		return corruptf("body file %s holds %d bytes, want %d", p, fi.Size(), r.size)
	}
	return nil
}

// checkCRC reads the file of r at path p to its end from body and checks
// its CRC-32C.
func (r *fileRef) checkCRC(body io.Reader, p string) error {
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, body); err != nil {
		return fmt.Errorf("body file %s: %w", p, err)
	}
	if got := h.Sum32(); got != r.crc {
		return corruptf("body file %s: checksum %08x, want %08x", p, got, r.crc)
	}
	return nil
}

// appendRef appends the body region of a file entry.
func appendRef(b []byte, r *fileRef) []byte {
	b = binary.BigEndian.AppendUint64(b, r.id)
	b = binary.BigEndian.AppendUint64(b, uint64(r.size))
	return binary.BigEndian.AppendUint32(b, r.crc)
}

// parseRef reads the body region of a file entry.
func parseRef(b []byte, key string) (*fileRef, error) {
	if len(b) != fileRefLen {
		return nil, corruptf("file reference of %d bytes", len(b))
	}
	r := &fileRef{
		id:   binary.BigEndian.Uint64(b),
		size: int64(binary.BigEndian.Uint64(b[8:])),
		crc:  binary.BigEndian.Uint32(b[16:]),
		key:  key,
	}
	if r.id == 0 || r.size < 0 {
		return nil, corruptf("file reference id %d size %d", r.id, r.size)
	}
	return r, nil
}

// sweepChunk is how many body files the sweep checks per transaction.
const sweepChunk = 1024

// sweepBodyFiles removes the body files that no record names: left by a
// crash between a file's write and the commit of its record, or between a
// record's removal and its file's unlink, or by a damaged store file set
// aside. It runs once, in the background, from Open until done or Close;
// each chunk is checked and removed holding the writer's txMu, so a file
// written for a transaction not yet committed is never taken for an orphan.
func (s *Store) sweepBodyFiles() {
	var ids []uint64
	check := func() bool {
		if !s.life.enter() {
			return false
		}
		defer s.life.leave()
		s.w.locked(func() {
			orphans, err := s.disk.unnamedFiles(ids)
			if err != nil {
				return
			}
			s.disk.files.remove(orphans)
		})
		ids = ids[:0]
		return true
	}
	err := s.disk.files.walk(func(id uint64, _ string) bool {
		ids = append(ids, id)
		return len(ids) < sweepChunk || check()
	})
	if err != nil {
		s.disk.report("sweep body files", err)
	}
	if len(ids) > 0 {
		check()
	}
}

// unnamedFiles returns the ids no record names.
func (d *disk) unnamedFiles(ids []uint64) ([]uint64, error) {
	var orphans []uint64
	err := d.view(func(tx *bolt.Tx) error {
		orphans = orphans[:0]
		idx := tx.Bucket(bucketFiles)
		for _, id := range ids {
			if idx.Get(binary.BigEndian.AppendUint64(nil, id)) == nil {
				orphans = append(orphans, id)
			}
		}
		return nil
	})
	return orphans, closedErr(err)
}
