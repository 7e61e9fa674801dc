package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// btEframe is one exception frame bt -e found.
type btEframe struct {
	Addr  string  `json:"addr"`
	Mode  string  `json:"mode"` // "kernel" or "user"
	Stack string  `json:"stack"`
	CPU   int     `json:"cpu"` // -1: the task's stack
	Regs  *btRegs `json:"regs"`

	regs *kstructs.Regs
}

// btEframes searches t's stacks for exception frames (bt -e).
func (s *Session) btEframes(t *kstructs.Task) btTask {
	out := btTask{PID: t.PID, Task: s.addr(t.Addr), CPU: t.CPU, Comm: t.Comm, task: t}
	fs, err := s.K.ExceptionFrames(t)
	if err != nil {
		out.Error = err.Error()
	}
	out.Eframes = []btEframe{}
	for _, f := range fs {
		mode := "kernel"
		if f.User {
			mode = "user"
		}
		out.Eframes = append(out.Eframes, btEframe{Addr: s.addr(f.Addr), Mode: mode, Stack: f.Stack, CPU: f.CPU, Regs: s.jsonRegs(f.Regs), regs: f.Regs})
	}
	return out
}

// textEframes prints bt -e as crash does: each frame's "KERNEL-MODE
// EXCEPTION FRAME AT: addr" or "USER-MODE ..." line, then its registers;
// frames on a CPU's IRQ or exception stacks under a "CPU n IRQ STACK:"
// line.
func (r *btResult) textEframes(w io.Writer, s *Session, t btTask) {
	stack := "task"
	for i, f := range t.Eframes {
		if f.Stack != stack {
			stack = f.Stack
			fmt.Fprintf(w, "\nCPU %d %s STACK:\n", f.CPU, strings.ToUpper(f.Stack))
		}
		mode := "KERNEL"
		if f.regs.User {
			mode = "USER"
		}
		if i > 0 || !f.regs.User || r.style.EframeIndent != "" {
			io.WriteString(w, "\n")
		}
		fmt.Fprintf(w, "%s%s-MODE EXCEPTION FRAME AT: %x\n", r.style.EframeIndent, mode, f.regs.Addr)
		writeExceptionRegs(w, s, r.style, f.regs)
	}
	if t.Error != "" {
		fmt.Fprintf(w, "bt: %s\n", t.Error)
	}
}
