package repl

import (
	"testing"
	"time"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/kstructs"
)

// BenchmarkCompletion measures what a Tab costs on the largest fixture
// vmlinux (x86_64, ~630 MB): a member path (evaluates the base expression
// and lists members), a symbol prefix and a type name prefix. The first
// call builds the sorted name lists; b.N covers steady state.
func BenchmarkCompletion(b *testing.B) {
	k, _ := ktest.Open(b, "x86_64", "vmcore.elf")
	s := NewSession(k, nil, nil)
	// The very first Tab of a session pays for building the sorted name
	// lists; report it on its own.
	start := time.Now()
	s.Completions("p init_task.se.", "init_task.se.")
	s.Completions("sym sched_", "sched_")
	first := time.Since(start)
	cases := []struct{ name, text, word string }{
		{"member", "p init_task.se.", "init_task.se."},
		{"symbol", "sym sched_", "sched_"},
		{"type", "struct task_", "task_"},
		{"command", "ru", "ru"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if len(s.Completions(c.text, c.word)) == 0 {
				b.Fatalf("no completions for %q", c.text)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.Completions(c.text, c.word)
			}
			b.ReportMetric(float64(first.Microseconds())/1000, "first-tab-ms")
		})
	}
}

// TestCompletionLists checks that completion answers from the real index.
func TestCompletionLists(t *testing.T) {
	ktest.ForEach(t, func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		s := NewSession(k, nil, nil)
		want := map[string]string{
			"p init_task.se.":   "init_task.se.vruntime",
			"p init_task->":     "init_task->comm",
			"struct task_stru":  "task_struct",
			"sym fair_sched_cl": "fair_sched_class",
			"help ru":           "runq",
			"ps -":              "-l",
		}
		for text, w := range want {
			word := text[lastSpace(text)+1:]
			if !contains(s.Completions(text, word), w) {
				t.Errorf("%s: completing %q lacks %q: %v", f.Arch, text, w, s.Completions(text, word))
			}
		}
	})
}

func lastSpace(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ' ' {
			return i
		}
	}
	return -1
}

func contains(list []string, w string) bool {
	for _, x := range list {
		if x == w {
			return true
		}
	}
	return false
}
