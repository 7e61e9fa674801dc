package repl

import (
	"fmt"
	"io"
	"os"
)

// traceDumpResult is `trace dump -t FILE`.
type traceDumpResult struct {
	File     string   `json:"file"`
	Bytes    int      `json:"bytes"`
	CPUs     int      `json:"cpus"`
	Pages    int      `json:"pages"`
	Events   int      `json:"event_formats"`
	Problems []string `json:"problems,omitempty"`
}

func (r traceDumpResult) Text(w io.Writer, s *Session) error {
	_, err := fmt.Fprintf(w, "wrote %s: %d bytes, %d cpus, %d pages, %d event formats (read it with: trace-cmd report %s)\n",
		r.File, r.Bytes, r.CPUs, r.Pages, r.Events, r.File)
	return err
}

func runTraceDump(s *Session, inv *Invocation, rest []string) (Result, error) {
	file := inv.Flag("t")
	if file == "" && len(rest) == 1 {
		file = rest[0]
	}
	if file == "" {
		return nil, &UsageError{"trace", "trace dump needs -t FILE.dat"}
	}
	ti, err := s.K.TraceInstance(inv.Flag("i"))
	if err != nil {
		return nil, err
	}
	fh, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	st, problems, err := s.K.WriteTraceDat(fh, ti)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return nil, err
	}
	r := traceDumpResult{File: file, Bytes: st.Bytes, CPUs: st.CPUs, Pages: st.Pages, Events: st.Events}
	for _, p := range problems {
		fmt.Fprintf(s.Stderr, "trace: %v\n", p)
		r.Problems = append(r.Problems, p.Error())
	}
	return r, nil
}
