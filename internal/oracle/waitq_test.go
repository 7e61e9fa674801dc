package oracle_test

// waitq compared with crash 8.0.6 on the same dump: kswapd0 on its node's
// kswapd_wait, the workload's raspbian_proc on its signal_struct's
// wait_chldexit (it waits for its children), and an empty queue.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/kstructs"
)

// waitqCommands names each queue by an address kinspect computes from the
// dump (crash gets the same number); what is on the queue is compared.
func waitqCommands(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) []string {
	out := []string{"waitq log_wait"}
	for _, e := range []string{"node_data[0]", "&contig_page_data"} {
		if a, err := k.ReadUint(e); err == nil && a != 0 {
			out = append(out, fmt.Sprintf("waitq pglist_data.kswapd_wait %x", a))
			break
		}
	}
	if pid := f.GT.RolePID("raspbian_proc"); pid > 0 {
		if tk, err := k.TaskByPID(pid); err == nil {
			if sig, err := k.ReadUint(fmt.Sprintf("((struct task_struct *)%#x)->signal", tk.Addr)); err == nil {
				out = append(out, fmt.Sprintf("waitq signal_struct.wait_chldexit %x", sig))
			}
		}
	}
	if len(out) < 3 {
		t.Fatalf("cannot name the kswapd and raspbian_proc queues: %q", out)
	}
	return out
}

func TestWaitqMatchesCrash(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.Arch+"-"+fx.Suite, func(t *testing.T) {
			tg := open(t, fx.Arch, fx.Suite)
			tasks := 0
			for _, cmd := range waitqCommands(t, tg.k, tg.f) {
				co, ko := tg.both(t, cmd)
				norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
				if norm(co) != norm(ko) {
					t.Errorf("%s:\n crash    %s\n kinspect %s", cmd, co, ko)
				}
				tasks += strings.Count(co, "PID:")
			}
			if tasks < 2 {
				t.Errorf("crash found only %d waiting tasks on the kswapd and raspbian_proc queues", tasks)
			}
			t.Logf("%d waiting tasks as crash", tasks)
		})
	}
}
