package repl

import "context"

// fillSysExtras adds to sys what later layers know: the task count and the
// panic message.
func (s *Session) fillSysExtras(r *sysResult) {
	// TASKS: every task context, idle tasks (one per cpu) included. The
	// start-up summary counts the pid allocator's pids instead of walking
	// every task (kstructs.TaskCountFromPIDs), so that the first prompt does
	// not grow with the number of tasks.
	if s.startupSummary {
		if n, err := s.K.TaskCountFromPIDs(); err == nil {
			r.Tasks = n
		}
	} else if ts, err := s.K.Tasks(); err == nil {
		r.Tasks = len(ts)
	}
	s.fillSysPanic(r) // PANIC: crash's panic-message search (cmd_log.go)
}

// StartupSummary prints the sys summary the REPL opens with; its TASKS line
// comes from the pid allocator (see fillSysExtras).
func (s *Session) StartupSummary(ctx context.Context) error {
	s.startupSummary = true
	defer func() { s.startupSummary = false }()
	return s.Exec(ctx, "sys", true)
}
