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
	VMA   string   `json:"vma"`
	Start string   `json:"start"`
	End   string   `json:"end"`
	Flags string   `json:"flags"`           // vm_flags, hex
	Pgoff uint64   `json:"pgoff"`           // vm_pgoff (pages)
	File  string   `json:"file"`            // path as crash prints it ("" for anonymous memory)
	Pages []vmPage `json:"pages,omitempty"` // vm -p
	Error string   `json:"error,omitempty"`
}

// vmPage is one page of `vm -p --json`: its physical address, or the
// file offset backing it, or neither (not mapped).
type vmPage struct {
	Virtual  string  `json:"virtual"`
	Physical *string `json:"physical"`
	File     string  `json:"file,omitempty"`
	Offset   *uint64 `json:"offset,omitempty"`
	Error    string  `json:"error,omitempty"`
}

// vmTask is one task in `vm --json`.
type vmTask struct {
	PID       int       `json:"pid"`
	Task      string    `json:"task"`
	Comm      string    `json:"comm"`
	MM        string    `json:"mm"` // "" for a kernel thread
	PGD       string    `json:"pgd"`
	RSSKB     uint64    `json:"rss_kb"`
	TotalVMKB uint64    `json:"total_vm_kb"`
	VMAs      []vmVMA   `json:"vmas"`
	MMStruct  *jsonNode `json:"mm_struct,omitempty"` // vm -m
	Error     string    `json:"error,omitempty"`
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
		Synopsis: "vm [-p|-m] [pid|taskp ...]",
		Summary:  "virtual memory: a task's mm_struct summary and every VMA",
		Description: "Prints, for the context task or the given tasks, the mm_struct, its page directory, RSS and " +
			"total virtual size, then every vm_area_struct (from the mm's maple tree on 6.1+, its vma list before) " +
			"with its start, end, vm_flags and the path of the mapped file. -p adds every page of each VMA: its physical " +
			"address where the task's page tables (walked from mm->pgd) map it, else the file and offset backing it, else " +
			"(not mapped), as crash's vm -p. -m prints the mm_struct through its type instead. --json gives the same per task.",
		Examples: []string{"vm", "vm 1", "vm --json 1", "vm -p 1", "vm -m 1"},
		Flags: []Flag{
			{Short: "p", Help: "each VMA's pages: physical address, file offset or not mapped"},
			{Short: "m", Help: "the mm_struct, printed through its type"},
		},
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
		if inv.Has("m") {
			r.Tasks = append(r.Tasks, s.vmMM(t))
			continue
		}
		r.Tasks = append(r.Tasks, s.vmOf(t, inv.Has("p")))
	}
	if len(r.Tasks) == 1 && r.Tasks[0].Error != "" && len(r.Tasks[0].VMAs) == 0 && r.Tasks[0].MM != "" {
		return nil, fmt.Errorf("vm: pid %d: %s", r.Tasks[0].PID, r.Tasks[0].Error)
	}
	return r, nil
}

func (s *Session) vmOf(t *kstructs.Task, pages bool) vmTask {
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
	var us *kstructs.UserSpace
	mm, err := s.K.ReadMM(t.MM)
	if pages && mm != nil {
		if us, err = s.K.UserSpace(t.MM); us != nil {
			mm = us.MM
		}
	}
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
	vmaHdr := crashCenter("VMA", w, false) + sp + crashCenter("START", uw, true) + sp +
		crashCenter("END", uw, true) + "  FLAGS" + sp + "FILE\n"
	b.WriteString(vmaHdr)
	for i, v := range mm.VMAs {
		if us != nil && i > 0 {
			b.WriteString(vmaHdr)
		}
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
		if us != nil {
			vt.VMAs[len(vt.VMAs)-1].Pages = s.vmPages(&b, us, &v)
		}
	}
	if err != nil {
		vt.Error = err.Error()
		fmt.Fprintf(&b, "vm: %v\n", err)
	}
	vt.text = b.String()
	return vt
}

// vmPages prints crash's vm_area_page_dump for one VMA (the init_mm has
// none) and returns the pages for --json.
func (s *Session) vmPages(b *strings.Builder, us *kstructs.UserSpace, v *kstructs.VMA) []vmPage {
	uw, pw := s.uvaddrWidth(), max(s.paddrWidth(), len("PHYSICAL"))
	fmt.Fprintf(b, "%-*s  %-*s\n", uw, "VIRTUAL", pw, "PHYSICAL")
	out := []vmPage{}
	for _, p := range us.Pages(v) {
		j := vmPage{Virtual: fmt.Sprintf("%x", p.Virt)}
		switch {
		case p.Present:
			pa := fmt.Sprintf("%x", p.Phys)
			j.Physical = &pa
			fmt.Fprintf(b, "%-*x  %*x\n", uw, p.Virt, pw, p.Phys)
		case p.File != "":
			off := p.Offset
			j.File, j.Offset = p.File, &off
			fmt.Fprintf(b, "%-*x  FILE: %s  OFFSET: %x\n", uw, p.Virt, p.File, p.Offset)
		default:
			fmt.Fprintf(b, "%-*x  (not mapped)\n", uw, p.Virt)
		}
		if p.ReadErr != nil {
			j.Error = p.ReadErr.Error()
			fmt.Fprintf(b, "vm: %x: %v\n", p.Virt, p.ReadErr)
		}
		out = append(out, j)
	}
	return out
}

// vmMM is vm -m: the task header, then the mm_struct as struct prints it.
func (s *Session) vmMM(t *kstructs.Task) vmTask {
	vt := vmTask{PID: t.PID, Task: s.addr(t.Addr), Comm: t.Comm, VMAs: []vmVMA{}, text: s.taskHeader(t, false)}
	if t.MM == 0 {
		return vt
	}
	vt.MM = s.addr(t.MM)
	res, err := runAggregate(s, &Invocation{Args: []string{"mm_struct", fmt.Sprintf("%x", t.MM)}, Flags: map[string]string{}}, "struct")
	if err != nil {
		vt.Error = err.Error()
		vt.text += fmt.Sprintf("vm: %v\n", err)
		return vt
	}
	sr := res.(structResult)
	if len(sr.Objects) > 0 {
		vt.MMStruct = sr.Objects[0].Value
	}
	vt.text += sr.text
	return vt
}
