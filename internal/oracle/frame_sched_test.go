package oracle_test

// __schedule's prev, next and rq in sleeping tasks' frames against crash:
// prev must be the task itself, rq the runqueue crash's runq prints for
// the cpu crash's ps gives the task, next a task crash's ps lists.

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/internal/ktest"
	"github.com/kinspect/kinspect/internal/oracle"
	"github.com/kinspect/kinspect/kstructs"
)

var runqCPURE = regexp.MustCompile(`(?m)^CPU (\d+) RUNQUEUE: ([0-9a-f]+)`)

func TestScheduleFrameVars(t *testing.T) {
	run := func(t *testing.T, k *kstructs.Kernel, f *fixture.Fixture) {
		outs, err := oracle.RunFixture(t, f, "vmcore.elf", []string{"ps", "runq"})
		if err != nil {
			t.Fatal(err)
		}
		rqs := map[int]uint64{}
		for _, m := range runqCPURE.FindAllStringSubmatch(outs[1], -1) {
			c, _ := strconv.Atoi(m[1])
			rqs[c], _ = strconv.ParseUint(m[2], 16, 64)
		}
		tasks := map[uint64]int{} // task -> cpu
		var sleeping []uint64
		for _, line := range strings.Split(outs[0], "\n") {
			fs := strings.Fields(strings.TrimPrefix(line, ">"))
			if len(fs) < 5 || fs[0] == "PID" {
				continue
			}
			cpu, err1 := strconv.Atoi(fs[2])
			addr, err2 := strconv.ParseUint(fs[3], 16, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			tasks[addr] = cpu
			if fs[4] == "IN" || fs[4] == "UN" || fs[4] == "ID" {
				sleeping = append(sleeping, addr)
			}
		}
		var c schedCounts
		for _, task := range sleeping {
			c.check(t, k, task, tasks, rqs)
		}
		t.Logf("%s: %d sleeping tasks, %d with a __schedule frame; prev checked %d, next %d (%d of them tasks crash lists), rq %d (rq without a location: %d)",
			ktest.Name(f), len(sleeping), c.frames, c.prev, c.next, c.nextListed, c.rq, c.rqMissing)
		if c.prev == 0 || c.nextListed == 0 {
			t.Errorf("no __schedule frame with prev and next")
		}
	}
	ktest.ForEach(t, run)
	ktest.ForEachExtra(t, run)
}

type schedCounts struct{ frames, prev, next, nextListed, rq, rqMissing int }

func (c *schedCounts) check(t *testing.T, k *kstructs.Kernel, task uint64, tasks map[uint64]int, rqs map[int]uint64) {
	bt, err := k.Backtrace(task)
	if err != nil {
		t.Errorf("task %#x: %v", task, err)
		return
	}
	fv, err := k.BacktraceVars(bt)
	if err != nil {
		t.Errorf("task %#x: %v", task, err)
		return
	}
	i := findFrame(fv, 0, "__schedule")
	if i < 0 {
		return
	}
	c.frames++
	hasRQ := false
	for _, v := range fv[i].Vars {
		if !v.Value.IsValid() || (v.Name != "prev" && v.Name != "next" && v.Name != "rq") {
			continue
		}
		got, err := v.Value.Uint(k)
		if err != nil {
			t.Errorf("task %#x: __schedule %s: %v", task, v.Name, err)
			continue
		}
		switch v.Name {
		case "prev":
			c.prev++
			if got != task {
				t.Errorf("task %#x: __schedule prev = %#x", task, got)
			}
		case "next":
			c.next++
			if got == task || got == 0 {
				t.Errorf("task %#x: __schedule next = %#x", task, got)
			}
			// next may have exited since (a short-lived process): then
			// crash's ps no longer lists it.
			if _, ok := tasks[got]; ok {
				c.nextListed++
			}
		case "rq":
			c.rq++
			hasRQ = true
			if want := rqs[tasks[task]]; got != want {
				t.Errorf("task %#x (cpu %d): __schedule rq = %#x, crash's runq %#x", task, tasks[task], got, want)
			}
		}
	}
	if !hasRQ {
		c.rqMissing++
	}
}
