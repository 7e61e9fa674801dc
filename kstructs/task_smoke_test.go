package kstructs_test

import (
	"fmt"
	"testing"

	"github.com/kinspect/kinspect/internal/ktest"
)

func TestSmokeTasks(t *testing.T) {
	for _, arch := range []string{"x86_64", "arm64"} {
		k, _ := ktest.Open(t, arch, "vmcore.elf")
		ts, err := k.Tasks()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(arch, len(ts), k.TaskListProblems())
		for _, x := range ts {
			if x.PID < 3 || x.PID > 105 {
				fmt.Printf("%d %d %d %x %s %s %c cpu=%d pol=%d prio=%d nice=%d %s rss=%d vsz=%d act=%v pan=%v\n", x.PID, x.TGID, x.PPID, x.Addr, x.Comm, x.StateCode, x.StateChar, x.CPU, x.Policy, x.Prio, x.Nice, x.SchedClassName, x.RSS, x.VSZ, x.Active, x.Panic)
			}
		}
		for c := 0; c < 4; c++ {
			r, err := k.RunQueue(c)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("cpu %d rq %x curr %d nr %d cfs %d rt %d dl %d %v\n", c, r.Addr, r.Curr.PID, r.NrRunning, len(r.CFS), len(r.RT), len(r.DL), r.Problems)
		}
	}
}
