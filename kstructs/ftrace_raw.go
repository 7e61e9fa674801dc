package kstructs

import "fmt"

// TraceRawPages returns one cpu's ring-buffer data pages as the kernel
// keeps them (struct buffer_data_page: time stamp, commit, events; a whole
// sub-buffer each), in reading order — the bytes
// per_cpu/cpuN/trace_pipe_raw would have given. Empty pages are left out;
// a page that cannot be read or whose header is corrupt is left out with a
// *TracePageError.
func (k *Kernel) TraceRawPages(ti *TraceInstance, cpu int) ([][]byte, []error) {
	l, err := k.ftLayout()
	if err != nil {
		return nil, []error{err}
	}
	if ti.Buffer == 0 {
		return nil, []error{fmt.Errorf("%w: trace instance %q has no ring buffer", ErrTracingNeverEnabled, ti.Name)}
	}
	for _, tc := range ti.CPUs {
		if tc.CPU == cpu {
			return k.ftReader().ftRawPages(l, ti, tc)
		}
	}
	return nil, []error{fmt.Errorf("trace instance %q has no buffer for cpu %d", ti.Name, cpu)}
}
