package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// minSpace is crash's space(MINSPACE): one blank with 64-bit addresses,
// two with 32-bit ones.
func (s *Session) minSpace() string {
	if s.hexWidth() > 8 {
		return " "
	}
	return "  "
}

// uvaddrWidth is crash's UVADDR_PRLEN (10 on x86_64 and arm64, 8 on arm).
func (s *Session) uvaddrWidth() int {
	if s.hexWidth() > 8 {
		return 10
	}
	return 8
}

// vmVMA is one VMA in `vm --json`.
type vmVMA struct {
	VMA   string `json:"vma"`
	Start string `json:"start"`
	End   string `json:"end"`
	Flags string `json:"flags"` // vm_flags, hex
	Pgoff uint64 `json:"pgoff"` // vm_pgoff (pages)
	File  string `json:"file"`  // path as crash prints it ("" for anonymous memory)
	Error string `json:"error,omitempty"`
}

// vmTask is one task in `vm --json`.
type vmTask struct {
	PID       int     `json:"pid"`
	Task      string  `json:"task"`
	Comm      string  `json:"comm"`
	MM        string  `json:"mm"` // "" for a kernel thread
	PGD       string  `json:"pgd"`
	RSSKB     uint64  `json:"rss_kb"`
	TotalVMKB uint64  `json:"total_vm_kb"`
	VMAs      []vmVMA `json:"vmas"`
	Error     string  `json:"error,omitempty"`
	text      string
}

type vmResult struct {
	Tasks []vmTask `json:"tasks"`
}

func (r vmResult) Text(w io.Writer, s *Session) error {
	for i, t := range r.Tasks {
		if i > 0 {
			io.WriteString(w, "\n")
		}
		io.WriteString(w, t.text)
	}
	return nil
}

func vmCmd() *Command {
	return &Command{
		Name:     "vm",
		Synopsis: "vm [pid|taskp ...]",
		Summary:  "virtual memory: a task's mm_struct summary and every VMA",
		Description: "Prints, for the context task or the given tasks, the mm_struct, its page directory, RSS and " +
			"total virtual size, then every vm_area_struct (from the mm's maple tree on 6.1+, its vma list before) " +
			"with its start, end, vm_flags and the path of the mapped file. --json gives the same per task.",
		Examples: []string{"vm", "vm 1", "vm --json 1"},
		Complete: ArgTask,
		Run:      runVM,
	}
}

// argTasks is the context task, or the tasks the arguments select.
func (s *Session) argTasks(inv *Invocation) ([]*kstructs.Task, error) {
	if len(inv.Args) == 0 {
		t, err := s.contextTask()
		if err != nil {
			return nil, err
		}
		return []*kstructs.Task{t}, nil
	}
	sels, err := s.parseTaskSelectors(inv, inv.Args)
	if err != nil {
		return nil, err
	}
	return s.selectTasks(sels)
}

func runVM(s *Session, inv *Invocation) (Result, error) {
	tasks, err := s.argTasks(inv)
	if err != nil {
		return nil, err
	}
	r := vmResult{Tasks: []vmTask{}}
	for _, t := range tasks {
		if err := s.Context().Err(); err != nil {
			return nil, err
		}
		r.Tasks = append(r.Tasks, s.vmOf(t))
	}
	if len(r.Tasks) == 1 && r.Tasks[0].Error != "" && len(r.Tasks[0].VMAs) == 0 && r.Tasks[0].MM != "" {
		return nil, fmt.Errorf("vm: pid %d: %s", r.Tasks[0].PID, r.Tasks[0].Error)
	}
	return r, nil
}

func (s *Session) vmOf(t *kstructs.Task) vmTask {
	var b strings.Builder
	b.WriteString(s.taskHeader(t, false))
	vt := vmTask{PID: t.PID, Task: s.addr(t.Addr), Comm: t.Comm, VMAs: []vmVMA{}}
	w := s.hexWidth()
	b.WriteString(crashCenter("MM", w, false) + "  " + crashCenter("PGD", w, false) + "  " +
		crashCenter("RSS", 6, false) + "  " + crashCenter("TOTAL_VM", 8, false) + "\n")
	if t.MM == 0 {
		b.WriteString(crashCenter("0", w, false) + "  " + crashCenter("0", w, false) + "  " +
			crashCenter("0k", 6, false) + "  " + crashCenter("0k", 8, false) + "\n")
		vt.text = b.String()
		return vt
	}
	mm, err := s.K.ReadMM(t.MM)
	vt.MM = s.addr(t.MM)
	if mm == nil {
		vt.Error = err.Error()
		b.WriteString(fmt.Sprintf("vm: %v\n", err))
		vt.text = b.String()
		return vt
	}
	page := s.K.PageSize()
	vt.PGD, vt.RSSKB, vt.TotalVMKB = s.addr(mm.PGD), t.RSS, mm.TotalVM*page/1024
	b.WriteString(crashCenter(fmt.Sprintf("%x", mm.Addr), w, false) + "  " + crashCenter(fmt.Sprintf("%x", mm.PGD), w, false) + "  " +
		crashCenter(fmt.Sprintf("%dk", vt.RSSKB), 6, false) + "  " + crashCenter(fmt.Sprintf("%dk", vt.TotalVMKB), 8, false) + "\n")
	sp, uw := s.minSpace(), s.uvaddrWidth()
	b.WriteString(crashCenter("VMA", w, false) + sp + crashCenter("START", uw, true) + sp +
		crashCenter("END", uw, true) + "  FLAGS" + sp + "FILE\n")
	for _, v := range mm.VMAs {
		j := vmVMA{VMA: s.addr(v.Addr), Start: fmt.Sprintf("%x", v.Start), End: fmt.Sprintf("%x", v.End),
			Flags: fmt.Sprintf("%x", v.Flags), Pgoff: v.PgOff, File: v.Path}
		if v.PathErr != nil {
			j.Error = v.PathErr.Error()
		}
		vt.VMAs = append(vt.VMAs, j)
		fmt.Fprintf(&b, "%s%s%*x%s%*x %6x%s%s\n", crashCenter(fmt.Sprintf("%x", v.Addr), w, false), sp, uw, v.Start, sp, uw, v.End, v.Flags, sp, v.Path)
		if v.PathErr != nil {
			fmt.Fprintf(&b, "vm: vma %x: file %x: %v\n", v.Addr, v.File, v.PathErr)
		}
	}
	if err != nil {
		vt.Error = err.Error()
		fmt.Fprintf(&b, "vm: %v\n", err)
	}
	vt.text = b.String()
	return vt
}
