package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

const crashDirEnv = "EDGED_BODYFILE_CRASH_DIR"

// crashBody is the body written under key i: its size and bytes differ by
// i, so a record naming another write's file is caught.
func crashBody(i int) []byte {
	return bytes.Repeat([]byte{byte('a' + i%26)}, 2000+(i%7)*1500)
}

// TestBodyFileCrashChild is the process TestBodyFileKill kills: it writes
// entries with body files as fast as it can and reports each flushed one.
func TestBodyFileCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the child of TestBodyFileKill")
	}
	s, err := Open(Options{Dir: dir, NoMemoryTier: true, FileBodyMin: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		e := newEntry("http://h/"+strconv.Itoa(i), 0)
		e.Body = crashBody(i)
		s.Set(e)
		if i%3 == 0 {
			_, _ = s.Purge(Purge{Keys: []string{"http://h/" + strconv.Itoa(i/2)}})
		}
		if i%5 == 0 {
			s.Flush()
			fmt.Println(i)
		}
	}
}

// TestBodyFileKill: kill -9 in the middle of writes and purges never
// leaves a record that names a missing, partial or foreign body file, and
// the sweep at the next Open leaves exactly the files records name.
func TestBodyFileKill(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBodyFileCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		flushed := 0
		for sc.Scan() && flushed < 40+round*17 {
			flushed++
		}
		_ = cmd.Process.Kill() // SIGKILL: no Close, no freelist sync
		_ = cmd.Wait()
		if flushed == 0 {
			t.Fatalf("round %d: the child reported no flushed write", round)
		}

		s, err := Open(Options{Dir: dir, NoMemoryTier: true, FileBodyMin: 1000})
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", round, err)
		}
		<-s.sweeping
		var keys []string
		err = s.disk.view(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketEntries).ForEach(func(k, _ []byte) error {
				keys = append(keys, string(k))
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		files, found := 0, 0
		for _, k := range keys {
			i, _ := strconv.Atoi(strings.TrimPrefix(k, "http://h/"))
			e, _, err := s.Get(k)
			if err != nil {
				t.Fatalf("round %d: Get(%s) of a stored key: %v", round, k, err)
			}
			found++
			b, err := e.ReadBody()
			if err != nil {
				t.Fatalf("round %d: key %d is stored but its body is unreadable: %v", round, i, err)
			}
			if !bytes.Equal(b, crashBody(i)) {
				t.Fatalf("round %d: key %d has %d bytes of another write", round, i, len(b))
			}
			if e.InFile() {
				files++
			}
		}
		if found == 0 {
			t.Fatalf("round %d: nothing survived %d flushed writes", round, flushed)
		}
		if n := bodyFileCount(t, dir); n != files {
			t.Fatalf("round %d: %d body files on disk, %d named by records: the sweep left orphans", round, n, files)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
