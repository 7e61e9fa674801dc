package repl

// fillSysExtras adds to sys what later layers know: the task count and the
// panic message.
func (s *Session) fillSysExtras(r *sysResult) {
	// TASKS: every task context, idle tasks (one per cpu) included.
	if ts, err := s.K.Tasks(); err == nil {
		r.Tasks = len(ts)
	}
	s.fillSysPanic(r) // PANIC: crash's panic-message search (cmd_log.go)
}
