package repl

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	if r.Events == 0 {
		_, err := fmt.Fprintf(w, "wrote %s/cpuN.raw: %d bytes, %d cpus, %d pages\n", r.File, r.Bytes, r.CPUs, r.Pages)
		return err
	}
	_, err := fmt.Fprintf(w, "wrote %s: %d bytes, %d cpus, %d pages, %d event formats (read it with: trace-cmd report %s)\n",
		r.File, r.Bytes, r.CPUs, r.Pages, r.Events, r.File)
	return err
}

func runTraceDump(s *Session, inv *Invocation, rest []string) (Result, error) {
	file := inv.Flag("t")
	switch {
	case file != "" && len(rest) == 0:
		return traceDumpDat(s, inv, file)
	case file == "" && len(rest) == 1:
		return traceDumpDir(s, inv, rest[0])
	}
	return nil, &UsageError{"trace", "trace dump needs -t FILE.dat (a trace.dat) or DIR (raw per-cpu pages), not both"}
}

func traceDumpDat(s *Session, inv *Invocation, file string) (Result, error) {
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
	r.Problems = reportProblems(s, problems)
	return r, nil
}

func reportProblems(s *Session, problems []error) []string {
	var out []string
	for _, p := range problems {
		fmt.Fprintf(s.Stderr, "trace: %v\n", p)
		out = append(out, p.Error())
	}
	return out
}

// traceDumpDir writes DIR/cpuN.raw for each cpu: the ring buffer's data
// pages in reading order, each a whole sub-buffer as the kernel keeps it
// (what per_cpu/cpuN/trace_pipe_raw gives on a live system).
func traceDumpDir(s *Session, inv *Invocation, dir string) (Result, error) {
	ti, cpus, err := traceSelect(s, inv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := traceDumpResult{File: dir}
	for _, c := range cpus {
		pages, problems := s.K.TraceRawPages(ti, c)
		r.Problems = append(r.Problems, reportProblems(s, problems)...)
		b := bytes.Join(pages, nil)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("cpu%d.raw", c)), b, 0o644); err != nil {
			return nil, err
		}
		r.Bytes += len(b)
		r.CPUs++
		r.Pages += len(pages)
	}
	return r, nil
}
