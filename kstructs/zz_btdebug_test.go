package kstructs_test

import (
	"os"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/ktest"
)

func TestBTDebugDump(t *testing.T) {
	arch := os.Getenv("BTARCH")
	if arch == "" {
		t.Skip()
	}
	k, _ := ktest.Open(t, arch, "vmcore.elf")
	tasks, _ := k.Tasks()
	for _, task := range tasks {
		bt, err := k.Backtrace(task.Addr)
		if err != nil {
			t.Logf("%d %s: %v", task.PID, task.Comm, err)
			continue
		}
		if os.Getenv("BTFULL") != "" {
			t.Logf("%d %s active=%v\n%s", task.PID, task.Comm, bt.Active, btText(bt))
		} else {
			t.Logf("%d %s active=%v: %s | %s", task.PID, task.Comm, bt.Active, strings.Join(functions(bt), " "), bt.Stopped)
		}
	}
}

func TestBTDebugLines(t *testing.T) {
	arch := os.Getenv("BTARCH")
	if arch == "" {
		t.Skip()
	}
	k, f := ktest.Open(t, arch, "vmcore.elf")
	task, _ := k.TaskByPID(f.GT.CrashPID)
	bt, _ := k.Backtrace(task.Addr)
	lt, err := k.LineTableForTest()
	t.Logf("aranges %d err %v", lt, err)
	for _, fr := range k.SymbolizeFrames(bt.Frames) {
		t.Logf("#%d %s inline=%v %s:%d", fr.Level, fr.Function, fr.Inline, fr.File, fr.Line)
	}
}
