package kstructs

type armUnwinder struct{ u *unwinder }

func newARMUnwinder(u *unwinder) (*armUnwinder, error)                            { return &armUnwinder{u: u}, nil }
func (a *armUnwinder) savedRegs(t *taskCtx) (*Regs, error)                        { return nil, nil }
func (a *armUnwinder) unwind(bt *Backtrace, t *taskCtx, regs *Regs, fromCPU bool) {}
