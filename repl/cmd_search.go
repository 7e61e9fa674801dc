package repl

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

type searchHitJSON struct {
	Addr  string `json:"addr"`
	Value string `json:"value,omitempty"`
	Text  string `json:"text,omitempty"`
}

type searchResult struct {
	Hits []searchHitJSON `json:"hits"`
}

func (r searchResult) Text(w io.Writer, s *Session) error {
	for _, h := range r.Hits {
		if h.Text != "" {
			fmt.Fprintf(w, "%s: %s\n", h.Addr, h.Text)
		} else {
			fmt.Fprintf(w, "%s: %s\n", h.Addr, h.Value)
		}
	}
	return nil
}

func searchCmd() *Command {
	return &Command{
		Name:     "search",
		Synopsis: "search [-s START] [-e END] [-k|-u|-p] [-l|-w|-h|-c] [-m MASK] VALUE...",
		Summary:  "search memory for values or strings",
		Description: "Searches kernel virtual memory (-k, the default: the direct map of the dump's physical memory, " +
			"the busy vmalloc areas and the kernel image), the user memory of the context task (-u: the pages of its VMAs " +
			"that its page tables map; choose the task with set PID) or physical memory (-p) for pointer-sized values (-l, " +
			"the default), 32-bit (-w) or 16-bit (-h) values, or strings (-c), between START and END, and prints " +
			"each hit as crash does (ADDRESS: VALUE, or ADDRESS: the string and what follows). Bits set in MASK " +
			"are ignored in the comparison. VALUE is a hex number, a symbol or an expression. Pages excluded from " +
			"the dump are skipped. Memory is read a megabyte at a time.",
		Examples: []string{"search -p ffff888003a1c040", "search -u 400000", "search -c 'Linux version'", "search -s init_task -e +0x1000 ffffffff81e0c4c0", "search -m 0xfff ffff888003a1c000"},
		Flags: []Flag{
			{Short: "s", Arg: "START", Help: "start address (hex or symbol)"},
			{Short: "e", Arg: "END", Help: "end address (hex or symbol), exclusive"},
			{Short: "k", Help: "kernel virtual memory (the default)"},
			{Short: "u", Help: "user virtual memory of the context task"},
			{Short: "p", Help: "physical memory"},
			{Short: "l", Help: "pointer-sized values (the default)"},
			{Short: "w", Help: "32-bit values"},
			{Short: "h", Help: "16-bit values"},
			{Short: "c", Help: "strings"},
			{Short: "m", Arg: "MASK", Help: "ignore these bits of each value"},
		},
		Run: runSearch,
	}
}

func runSearch(s *Session, inv *Invocation) (Result, error) {
	if len(inv.Args) == 0 {
		return nil, &UsageError{"search", "give a value to search for"}
	}
	sr := &kstructs.Search{Size: s.K.PtrSize(), Max: 1 << 20}
	switch {
	case inv.Has("c"):
		sr.Size = 0
		for _, a := range inv.Args {
			sr.Strings = append(sr.Strings, []byte(a))
		}
	case inv.Has("w"):
		sr.Size = 4
	case inv.Has("h"):
		sr.Size = 2
	}
	if sr.Size > 0 {
		for _, a := range inv.Args {
			v, err := s.resolveAddress(a)
			if err != nil {
				return nil, fmt.Errorf("search: %s: %w", a, err)
			}
			sr.Values = append(sr.Values, v)
		}
	}
	if inv.Has("m") {
		m, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(inv.Flag("m")), "0x"), 16, 64)
		if err != nil {
			return nil, &UsageError{"search", fmt.Sprintf("-m takes a hex mask: %q", inv.Flag("m"))}
		}
		sr.Mask = m
	}
	if err := sr.Validate(); err != nil {
		return nil, err
	}
	start, end := uint64(0), ^uint64(0)
	if inv.Has("s") {
		a, err := s.resolveAddress(inv.Flag("s"))
		if err != nil {
			return nil, fmt.Errorf("search -s: %w", err)
		}
		start = a
	}
	if inv.Has("e") {
		a, err := s.resolveAddress(inv.Flag("e"))
		if err != nil {
			return nil, fmt.Errorf("search -e: %w", err)
		}
		end = a
	}
	if end <= start {
		return nil, &UsageError{"search", fmt.Sprintf("END %#x is not above START %#x", end, start)}
	}
	var hits []kstructs.SearchHit
	var err error
	switch {
	case inv.Has("p"):
		hits, err = s.K.SearchPhys(sr, start, end)
	case inv.Has("u"):
		hits, err = s.searchUser(sr, start, end)
	default:
		hits, err = s.K.SearchKernel(sr, start, end)
	}
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	return searchHits(hits), nil
}

func searchHits(hits []kstructs.SearchHit) searchResult {
	r := searchResult{Hits: []searchHitJSON{}}
	for _, h := range hits {
		j := searchHitJSON{Addr: fmt.Sprintf("%x", h.Addr)}
		if h.Text != nil {
			t := []byte(string(h.Text))
			for i, c := range t {
				if c < 0x20 || c > 0x7e {
					t[i] = '.'
				}
			}
			j.Text = string(t)
		} else {
			j.Value = fmt.Sprintf("%x", h.Value)
		}
		r.Hits = append(r.Hits, j)
	}
	return r
}

// searchUser searches the context task's user memory.
func (s *Session) searchUser(sr *kstructs.Search, start, end uint64) ([]kstructs.SearchHit, error) {
	t, err := s.contextUserTask()
	if err != nil {
		return nil, err
	}
	us, err := s.K.UserSpace(t.MM)
	if us == nil {
		return nil, fmt.Errorf("pid %d: %w", t.PID, err)
	}
	hits, serr := s.K.SearchUser(us, sr, start, end)
	if serr != nil {
		return hits, serr
	}
	if err != nil {
		fmt.Fprintf(s.Stderr, "search: pid %d: %v (the VMAs read before it were searched)\n", t.PID, err)
	}
	return hits, nil
}

// contextUserTask is the context task, which must have a user address
// space (set PID chooses it, as crash's context does).
func (s *Session) contextUserTask() (*kstructs.Task, error) {
	t, err := s.contextTask()
	if err != nil {
		return nil, err
	}
	if t.MM == 0 {
		return nil, fmt.Errorf("pid %d (%s) is a kernel thread: it has no user address space", t.PID, t.Comm)
	}
	return t, nil
}
