package kstructs

import (
	"errors"
	"strings"
	"testing"
)

// TestLiveListError: a list walk that breaks on a live kernel says the
// list changed while read, and is still a *ListError naming the node.
func TestLiveListError(t *testing.T) {
	var err error = &ListError{Head: 0x1000, At: 0x2000, Next: 0x1800, Reason: "seen twice", Live: true}
	if !strings.Contains(err.Error(), "changed while it was read (live kernel)") || !strings.Contains(err.Error(), "0x2000") {
		t.Errorf("live: %v", err)
	}
	err = &ListError{Head: 0x1000, At: 0x2000, Next: 0x1800, Reason: "seen twice"}
	if strings.Contains(err.Error(), "live") {
		t.Errorf("dump: %v", err)
	}
	if !errors.Is(liveRunningError(0x1000, 2), ErrLive) || !errors.Is(errLiveNoPanic, ErrLive) {
		t.Error("live errors do not wrap ErrLive")
	}
}
