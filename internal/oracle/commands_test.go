package oracle_test

// Commands compared line for line with crash 8.0.6 on the same dump: the
// printing commands the goldens once covered (p, whatis, struct, union,
// sym, rd) and the options no other test ran (vtop, ptov, bt -f/-l/-s/-t/
// -c, rd -s, sym -q, list -r, ps -H, struct -d, set radix/scroll). The
// inputs that depend on the dump (a task, a stack address) are chosen by
// dumpCommands from what the dump holds; the expected output is crash's.

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/kstructs"
	"github.com/kinspect/kinspect/repl"
)

// exactCommands are compared line for line, gdb's "$N = " history prefix
// aside.
var exactCommands = []string{
	"p jiffies",
	"p -x init_task.se.load",
	"p &init_task",
	"p linux_banner",
	"p init_uts_ns.name",
	"p rt_sched_class",
	"whatis init_task",
	"whatis linux_banner",
	"whatis jiffies",
	"struct list_head",
	"struct -o list_head",
	"struct -x -o list_head",
	"union -o rcu_special",
	"struct -o page",
	"struct -o task_struct.pid",
	"struct -d task_struct.pid,prio,static_prio init_task",
	"sym -q sysrq_handle_cr",
}

// dumpCommands are the commands whose argument is taken from the dump:
// the panic task, a sleeping task's stack, a direct-map address.
func dumpCommands(t *testing.T, k *kstructs.Kernel) []string {
	t.Helper()
	pt, err := k.PanicTask()
	if err != nil {
		t.Fatal(err)
	}
	// A sleeping task's saved frames: rd -s shows them with symbols.
	var sp uint64
	if sl, err := k.TaskByPID(1); err == nil {
		if bt, err := k.Backtrace(sl.Addr); err == nil && len(bt.Frames) > 0 {
			sp = bt.Frames[0].SP &^ 15
		}
	}
	if sp == 0 {
		t.Fatal("no stack pointer for pid 1")
	}
	cmds := append([]string(nil), exactCommands...)
	cmds = append(cmds,
		fmt.Sprintf("struct task_struct %x", pt.Addr),
		fmt.Sprintf("bt -f %d", pt.PID), fmt.Sprintf("bt -l %d", pt.PID), fmt.Sprintf("bt -s %d", pt.PID),
		fmt.Sprintf("bt -t %d", pt.PID), "bt -c 0",
		fmt.Sprintf("vtop %x", pt.Addr), fmt.Sprintf("vtop %x", pt.Stack),
		fmt.Sprintf("rd -s %x 48", sp),
		fmt.Sprintf("list -r %x", pt.Addr+taskOff(t, k, "tasks")),
		"set radix 16\np init_task.pid\nset radix 10\np init_task.pid",
		"set scroll off\nset scroll",
	)
	// ptov of the panic task's physical address (from crash's own vtop
	// would make the input depend on the oracle; the dump's page tables do).
	if pa, err := k.Mem.Translator().Translate(pt.Addr); err == nil {
		cmds = append(cmds, fmt.Sprintf("ptov %x", pa))
	}
	return cmds
}

func taskOff(t *testing.T, k *kstructs.Kernel, member string) uint64 {
	t.Helper()
	off, ok := k.TaskMemberOffset(member)
	if !ok {
		t.Fatalf("task_struct.%s not found", member)
	}
	return off
}

// TestCommandsMatchCrash compares every exact and per-dump command.
func TestCommandsMatchCrash(t *testing.T) {
	forArches(t, func(t *testing.T, tg *target) {
		for _, cmd := range tg.cmds[len(commands):] {
			if strings.HasPrefix(cmd, "struct task_struct ") || strings.HasPrefix(cmd, "bt ") {
				continue // TestTaskStructMatchesCrash, TestBTOptionsMatchCrash
			}
			if slices.Contains(memCommands(tg.f.GT.RolePID("files")), cmd) {
				continue // mem_test.go, column by column
			}
			if comparedElsewhere(tg, cmd) {
				continue
			}
			t.Run(strings.ReplaceAll(cmd, "\n", "; "), func(t *testing.T) {
				if strings.HasPrefix(cmd, "rd -s ") {
					compareRdS(t, tg, cmd)
					return
				}
				c, k := tg.both(t, cmd)
				if strings.HasPrefix(cmd, "vtop ") {
					// kinspect's vtop prints the translation and the struct
					// page; crash's also the page-table walk between them.
					cl := lines(c)
					keep := cl[:min(2, len(cl))]
					for i, l := range cl {
						if strings.Contains(l, "PHYSICAL") && strings.Contains(l, "MAPPING") {
							keep = append(append(keep, ""), cl[i:]...)
							break
						}
					}
					c = strings.Join(keep, "\n")
				}
				compareLines(t, cmd, c, k)
			})
		}
	})
}

// comparedElsewhere: the system views have tests of their own, field by
// field (irq_test.go, timer_test.go, dev_test.go, sig_test.go,
// waitq_test.go).
func comparedElsewhere(tg *target, cmd string) bool {
	own := append(append(append(append([]string{}, irqCommands...), timerCommands...), devCommands...), sigCommands(tg.f)...)
	own = append(own, netSocketCommands(tg.f)...)
	return slices.Contains(own, cmd) || strings.HasPrefix(cmd, "waitq ")
}

// compareLines wants kinspect's lines equal to crash's, "$N = " aside.
func compareLines(t *testing.T, cmd, c, k string) {
	t.Helper()
	cl, kl := historyless(lines(c)), historyless(lines(k))
	if len(cl) == 0 {
		t.Fatalf("%q: crash printed nothing", cmd)
	}
	diffs := 0
	for i := 0; i < max(len(cl), len(kl)); i++ {
		var a, b string
		if i < len(cl) {
			a = cl[i]
		}
		if i < len(kl) {
			b = kl[i]
		}
		if a != b {
			if diffs < 8 {
				t.Errorf("%q line %d:\ncrash    %q\nkinspect %q", cmd, i+1, a, b)
			}
			diffs++
		}
	}
	if diffs > 0 {
		t.Errorf("%q: %d of %d lines differ", cmd, diffs, len(cl))
	}
}

// historyRE is gdb's value-history prefix "$N = " (after crash's "name = "
// for a symbol), whose number depends on what ran before in the session.
var historyRE = regexp.MustCompile(`^((?:[A-Za-z_][\w.]* = )?)\$\d+ = `)

func historyless(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = historyRE.ReplaceAllString(l, "${1}$$N = ")
	}
	return out
}

// TestPsOptionsMatchCrash: ps -t (run, start, user and system times), ps -l
// (last-run timestamps, sorted) and ps -H (no header) line for line.
func TestPsOptionsMatchCrash(t *testing.T) {
	forArches(t, func(t *testing.T, tg *target) {
		for _, cmd := range []string{"ps -t", "ps -l", "ps -H"} {
			t.Run(cmd, func(t *testing.T) {
				c, k := tg.both(t, cmd)
				if cmd == "ps -t" && strings.Contains(c, "   USER TIME: ") {
					// crash 8.0.6 on 32-bit ARM prints "USER TIME: 0" and
					// "SYSTEM TIME: 0" for every task (it does not read the
					// u64 nanosecond utime/stime there): only the run and
					// start times are compared.
					c = dropLines(c, "   USER TIME: ", " SYSTEM TIME: ")
					k = dropLines(k, "       UTIME: ", "       STIME: ")
				}
				compareLines(t, cmd, c, k)
			})
		}
	})
}

// compareRdS compares rd -s value by value: a value crash shows as
// symbol+offset must be the same address kinspect shows, whichever alias
// of that address each names (arm's sys_rt_sigsuspend and
// __se_sys_rt_sigsuspend are one address) and whether or not it is inside
// the image (crash names anything above the last symbol "_end+N"). Where
// crash stops at an unreadable page, kinspect must stop at the same one
// and say so.
func compareRdS(t *testing.T, tg *target, cmd string) {
	c := tg.crash(t, cmd)
	var out, errb bytes.Buffer
	s := repl.NewSession(tg.k, &out, &errb)
	kerr := s.Exec(context.Background(), cmd, false)
	cv, cstop := rdValues(t, tg, c)
	kv, _ := rdValues(t, tg, out.String())
	if len(cv) == 0 {
		t.Fatalf("crash printed no values:\n%s", c)
	}
	if cstop != "" {
		if kerr == nil || !strings.Contains(kerr.Error(), "0x"+cstop) {
			t.Errorf("crash stops at %s; kinspect's error %v does not name it", cstop, kerr)
		}
	} else if kerr != nil {
		t.Fatalf("kinspect %q: %v", cmd, kerr)
	}
	if len(kv) != len(cv) {
		t.Errorf("%d values, crash %d", len(kv), len(cv))
	}
	for i := 0; i < min(len(kv), len(cv)); i++ {
		if kv[i] != cv[i] {
			t.Errorf("value %d: kinspect %#x, crash %#x", i, kv[i], cv[i])
		}
	}
}

var rdRow = regexp.MustCompile(`^\s*([0-9a-f]+):\s+(.*)$`)

// rdValues reads rd -s rows back into values (symbol+offset resolved with
// the vmlinux's symbol table) and the address crash said it could not read.
func rdValues(t *testing.T, tg *target, out string) ([]uint64, string) {
	var vals []uint64
	stop := ""
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, " rd: "); i >= 0 {
			if f := strings.Fields(l[i:]); len(f) > 0 {
				for j, w := range f {
					if w == "address:" && j+1 < len(f) {
						stop = strings.TrimPrefix(f[j+1], "0x")
					}
				}
			}
			l = l[:i]
		}
		g := rdRow.FindStringSubmatch(strings.TrimRight(l, " "))
		if g == nil {
			continue
		}
		for _, cell := range strings.Fields(g[2]) {
			if v, err := strconv.ParseUint(cell, 16, 64); err == nil {
				vals = append(vals, v)
				continue
			}
			name, off, _ := strings.Cut(cell, "+")
			sym, ok := tg.k.Image.Lookup(name)
			if !ok {
				t.Errorf("rd -s cell %q: no symbol %s", cell, name)
				continue
			}
			o, _ := strconv.ParseUint(off, 10, 64)
			vals = append(vals, sym.Addr+o)
		}
	}
	return vals, stop
}

// dropLines removes the lines that start with any of the prefixes.
func dropLines(s string, prefixes ...string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		drop := false
		for _, p := range prefixes {
			drop = drop || strings.HasPrefix(l, p)
		}
		if !drop {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
