package edge

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoBuildOutputsTracked fails when git tracks a compiled program: build
// outputs were committed twice by mistake (a 13 MB edgectl, then an 8.8 MB
// demo at the top), and every clone pays for them. What counts: a file that
// starts with an executable's magic (ELF, Mach-O, PE) or is larger than
// 4 MiB.
func TestNoBuildOutputsTracked(t *testing.T) {
	root := filepath.Join("..")
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout, or no git (%v): nothing to check", err)
	}
	magics := [][]byte{
		[]byte("\x7fELF"),
		{0xcf, 0xfa, 0xed, 0xfe}, {0xce, 0xfa, 0xed, 0xfe}, // Mach-O 64 and 32, little-endian
		[]byte("MZ"), // PE
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		path := filepath.Join(root, name)
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a link
		}
		if fi.Size() > 4<<20 {
			t.Errorf("%s is tracked and %d bytes: a build output or a data set that belongs elsewhere", name, fi.Size())
			continue
		}
		head := make([]byte, 4)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := f.Read(head)
		f.Close()
		for _, m := range magics {
			if bytes.HasPrefix(head[:n], m) {
				t.Errorf("%s is tracked and is a compiled program: remove it (git rm --cached) and list it in .gitignore", name)
			}
		}
	}
}
