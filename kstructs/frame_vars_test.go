package kstructs_test

import (
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// The callers the primary unwinders find (ORC, frame records, EHABI) and
// the return addresses the compiler's .debug_frame recovers are two
// independent derivations: on every task of every fixture they must never
// name different callers (CFI may have no answer: assembler code has none).
func TestCFIAgreesWithUnwinder(t *testing.T) {
	run := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		tasks, err := k.Tasks()
		if err != nil {
			t.Fatal(err)
		}
		agree, noAnswer := 0, 0
		for _, task := range tasks {
			bt, err := k.Backtrace(task.Addr)
			if err != nil {
				continue
			}
			n, bad, err := k.CheckCFI(bt)
			if err != nil {
				t.Fatalf("pid %d: %v", task.PID, err)
			}
			agree += n
			for _, m := range bad {
				if m.CFIPC != 0 {
					t.Errorf("pid %d #%d %s: unwinder's caller %#x, CFI's %#x", task.PID, m.Level, m.Function, m.UnwinderPC, m.CFIPC)
					continue
				}
				noAnswer++
			}
		}
		t.Logf("%s: %d tasks: CFI confirms %d callers, has no answer for %d", ktest.Name(f), len(tasks), agree, noAnswer)
		if agree == 0 {
			t.Error("CFI confirmed no caller")
		}
	}
	ktest.ForEach(t, run)
	ktest.ForEachExtra(t, run)
	ktest.ForEachKind(t, fixture.ModuleKinds, run)
}
