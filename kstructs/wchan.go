package kstructs

// WaitChannel is what /proc/PID/wchan shows for a blocked task: the first
// function on its stack that is not a scheduler function (the kernel's
// get_wchan skips everything between __sched_text_start and
// __sched_text_end). A running task has none: it returns "" with no error.
// depth is the number of frames the unwinder found (0 for a running task's
// wchan is irrelevant; it is still returned for ps --json).
func (k *Kernel) WaitChannel(t *Task) (wchan string, depth int, err error) {
	bt, err := k.Backtrace(t.Addr)
	if err != nil {
		return "", 0, err
	}
	depth = len(bt.Frames)
	if t.StateChar == 'R' || t.Active {
		return "", depth, nil
	}
	lo, okLo := k.Image.Lookup("__sched_text_start")
	hi, okHi := k.Image.Lookup("__sched_text_end")
	for _, f := range bt.Frames {
		if f.Inline || f.Function == "" {
			continue
		}
		if okLo && okHi && f.PC >= lo.Addr && f.PC < hi.Addr {
			continue
		}
		return f.Function, depth, nil
	}
	return "", depth, nil
}
