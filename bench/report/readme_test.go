package report

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeTableFromCommittedRun: the README's benchmark table is the one
// ReadmeTable makes from the committed bench/results/latest.md.
func TestReadmeTableFromCommittedRun(t *testing.T) {
	latest, err := os.ReadFile("../results/latest.md")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	table, err := ReadmeTable(string(latest))
	if err != nil {
		t.Fatal(err)
	}
	want, err := SpliceReadme(string(readme), table)
	if err != nil {
		t.Fatal(err)
	}
	if want != string(readme) {
		t.Fatalf("README.md's benchmark table is not the committed run's; run edgebench (it rewrites it) or paste:\n%s", table)
	}
}

func TestSpliceReadme(t *testing.T) {
	readme := "a\n" + ReadmeBegin + "\nold\n" + ReadmeEnd + "\nb\n"
	got, err := SpliceReadme(readme, "new\n")
	if err != nil || got != "a\n"+ReadmeBegin+"\nnew\n"+ReadmeEnd+"\nb\n" {
		t.Fatalf("SpliceReadme = %q, %v", got, err)
	}
	if _, err := SpliceReadme("no markers", "x"); err == nil {
		t.Fatal("SpliceReadme without markers: no error")
	}
	if _, err := ReadmeTable("# nothing"); err == nil || !strings.Contains(err.Error(), "run line") {
		t.Fatalf("ReadmeTable of an empty report: %v", err)
	}
}
