package kstructs

// SetUnwindTableOff makes the primary unwinder treat the function that
// starts at fn as having no unwind information (no ORC or EHABI entry, no
// frame record to follow) when off, so that the DWARF-CFI fallback
// unwinds it; !off restores it.
func (k *Kernel) SetUnwindTableOff(fn uint64, off bool) error {
	u, err := k.unwinder()
	if err != nil {
		return err
	}
	if u.noTable == nil {
		u.noTable = map[uint64]bool{}
	}
	if off {
		u.noTable[fn] = true
	} else {
		delete(u.noTable, fn)
	}
	return nil
}

// ModulesRead reports whether the module list and symbols were read (they
// are read on first need, not at open).
func (k *Kernel) ModulesRead() bool { return k.mods.done.Load() }
