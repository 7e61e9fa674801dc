package oracle_test

import (
	"strconv"
	"testing"
)

// TestStartupTaskCountMatchesCrash: the REPL's opening summary counts tasks
// from the pid allocator (kstructs.TaskCountFromPIDs) instead of walking
// them; on the fixtures (no orphaned process groups) that is crash's TASKS.
func TestStartupTaskCountMatchesCrash(t *testing.T) {
	forArches(t, func(t *testing.T, tg *target) {
		want, err := strconv.Atoi(parseSys(tg.crash(t, "sys"))["TASKS"])
		if err != nil {
			t.Fatalf("crash's sys TASKS: %v", err)
		}
		got, err := tg.k.TaskCountFromPIDs()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("TaskCountFromPIDs = %d, crash's TASKS %d", got, want)
		}
	})
}
