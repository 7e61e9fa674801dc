package kstructs

import (
	"strings"
	"testing"
)

// FuzzFaultReport: any log text gives a fault report or none, never a
// panic (the dump-side location is not reached without a task).
func FuzzFaultReport(f *testing.F) {
	for _, s := range []string{
		"BUG: kernel NULL pointer dereference, address: 0000000000000010\nCPU: 2 PID: 114 Comm: sh Tainted: G OE\nRIP: 0010:kt_do_oops+0x15/0x23 [kinspect_test]\n---[ end trace 0000000000000000 ]---",
		"INFO: task sh:106 blocked for more than 5 seconds.",
		"watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kworker/1:1:42]",
		"PC is at kt_do_oops+0x20/0x28 [kinspect_test]\npc : kt+0x/0x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fl *Fault
		for _, l := range strings.Split(s, "\n") {
			if fl == nil {
				fl = faultStart(strings.TrimSpace(l))
				continue
			}
			fl.addLine(strings.TrimSpace(l))
		}
	})
}
