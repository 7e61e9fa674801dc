package repl

import (
	"os"
	"testing"
)

// TestReadmeReferenceCurrent fails when a command changed and README.md was
// not regenerated with `make readme`.
func TestReadmeReferenceCurrent(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := SpliceReference(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if want != string(b) {
		t.Fatal("README.md's command reference is stale: run `make readme`")
	}
}
