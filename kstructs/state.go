package kstructs

import (
	"math/bits"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// stateTable decodes task states the way crash does: the bit values come
// from the kernel's own task_state_array[] strings, read from the dump, so
// the decoding follows whatever kernel wrote it.
type stateTable struct {
	running, interruptible, uninterruptible, stopped, traced uint64
	exitDead, exitZombie, parked, dead                       uint64
	wakekill, waking, noload, new                            uint64
	// letters[i] is the ps letter of task_state_array[i] ("R", "S", ...);
	// idleIndex is the index of "I (idle)" (-1 if the kernel has none).
	letters   []byte
	idleIndex int
	// fromDump is false when the array could not be read and the
	// defaults of a >= 4.14 kernel are used.
	fromDump bool
}

// stateBits returns the decoding table (read once per kernel).
func (k *Kernel) stateBits() *stateTable {
	c := k.cache()
	c.stateOnce.Do(func() { c.states = k.readStateTable() })
	return c.states
}

func (k *Kernel) readStateTable() *stateTable {
	st := &stateTable{
		// The >= 4.14 values, used if the array cannot be read.
		interruptible: 1, uninterruptible: 2, stopped: 4, traced: 8,
		exitDead: 0x10, exitZombie: 0x20, parked: 0x40,
		letters:   []byte("RSDTtXZPI"),
		idleIndex: 8,
	}
	if strs, err := k.readStringArray("task_state_array", 32, 32); err == nil && len(strs) > 0 {
		st.fromDump = true
		st.letters = st.letters[:0]
		st.idleIndex = -1
		for i, s := range strs {
			bit := uint64(0)
			if i > 0 {
				bit = 1 << (i - 1)
			}
			if s == "" {
				st.letters = append(st.letters, '?')
			} else {
				st.letters = append(st.letters, s[0])
			}
			if f := st.field(s); f != nil {
				*f = bit
			} else if strings.Contains(s, "(idle)") {
				st.idleIndex = i
			}
		}
	}
	// Bits the array does not list (crash's task_state_init for >= 4.14).
	if st.parked != 0 || len(st.letters) >= 8 {
		st.dead |= 0x80
		if st.wakekill == 0 {
			st.wakekill = 0x100
		}
		if st.waking == 0 {
			st.waking = 0x200
		}
		st.noload = 0x400
		st.new = 0x800
	}
	return st
}

// field is the state whose task_state_array string s is (fs/proc/array.c:
// "S (sleeping)", ...); nil for one this table does not keep.
func (st *stateTable) field(s string) *uint64 {
	for _, e := range []struct {
		tag string
		f   *uint64
	}{
		{"(running)", &st.running}, {"(sleeping)", &st.interruptible}, {"(disk sleep)", &st.uninterruptible},
		{"(stopped)", &st.stopped}, {"(zombie)", &st.exitZombie}, {"(dead)", &st.exitDead},
		{"(tracing stop)", &st.traced}, {"(wakekill)", &st.wakekill}, {"(waking)", &st.waking},
		{"(parked)", &st.parked},
	} {
		if strings.Contains(s, e.tag) {
			return e.f
		}
	}
	return nil
}

// readStringArray reads a global array of char pointers and the strings
// they point to.
func (k *Kernel) readStringArray(name string, maxN, maxLen int) ([]string, error) {
	v, err := k.Image.Variable(name)
	if err != nil {
		return nil, err
	}
	n := int(dwarfx.Strip(v.Type).Size()) / k.PtrSize()
	if n <= 0 || n > maxN {
		n = maxN
	}
	raw, err := k.readBytes(v.Addr, n*k.PtrSize(), name)
	if err != nil {
		return nil, err
	}
	d := k.decoder()
	var out []string
	for i := 0; i < n; i++ {
		p := d.ptrAt(raw, i*k.PtrSize())
		if p == 0 {
			break
		}
		b, err := k.readBytes(p, maxLen, name+" string")
		if err != nil {
			return nil, err
		}
		out = append(out, string(cString(b)))
	}
	return out, nil
}

// Code is crash's two-letter state (task_state_string): RU IN UN ZO ST TR
// DE PA WA NE ID, "??" when nothing matches.
func (st *stateTable) Code(state uint64) string {
	code := "??"
	matched := false
	if state == st.running {
		code = "RU"
	}
	if st.interruptible != 0 && state&st.interruptible != 0 {
		code, matched = "IN", true
	}
	if st.uninterruptible != 0 && state&st.uninterruptible != 0 {
		code, matched = "UN", true
		if st.noload != 0 && state&st.noload != 0 {
			code = "ID"
		}
	}
	if st.exitZombie != 0 && state&st.exitZombie != 0 {
		code, matched = "ZO", true
	}
	if st.stopped != 0 && state&st.stopped != 0 {
		code, matched = "ST", true
	}
	if st.traced != 0 && state&st.traced != 0 {
		code, matched = "TR", true
	}
	if !matched && ((st.exitDead != 0 && state&st.exitDead != 0) || (st.dead != 0 && state&st.dead != 0)) {
		code = "DE"
	}
	if st.parked != 0 && state == st.parked {
		code = "PA"
	}
	if st.waking != 0 && state == st.waking {
		code = "WA"
	}
	if st.new != 0 && state == st.new {
		code = "NE"
	}
	return code
}

// Verbose is crash's `set` STATE line: TASK_RUNNING or a |-joined list.
func (st *stateTable) Verbose(state uint64) string {
	if state == st.running {
		return "TASK_RUNNING"
	}
	if st.parked != 0 && state == st.parked {
		return "TASK_PARKED"
	}
	var parts []string
	add := func(bit uint64, name string) {
		if bit != 0 && state&bit != 0 {
			parts = append(parts, name)
		}
	}
	add(st.interruptible, "TASK_INTERRUPTIBLE")
	add(st.uninterruptible, "TASK_UNINTERRUPTIBLE")
	add(st.stopped, "TASK_STOPPED")
	add(st.traced, "TASK_TRACED")
	switch {
	case st.exitDead != 0 && state&st.exitDead != 0 && st.dead != 0 && state&st.dead != 0:
		parts = append(parts, "EXIT_DEAD|TASK_DEAD")
	case st.exitDead != 0 && state&st.exitDead != 0:
		parts = append(parts, "EXIT_DEAD")
	case st.dead != 0 && state&st.dead != 0:
		parts = append(parts, "TASK_DEAD")
	}
	add(st.exitZombie, "EXIT_ZOMBIE")
	add(st.waking, "TASK_WAKING")
	add(st.wakekill, "TASK_WAKEKILL")
	add(st.noload, "TASK_NOLOAD")
	add(st.new, "TASK_NEW")
	if len(parts) == 0 {
		return "(unknown)"
	}
	return strings.Join(parts, "|")
}

// Letter is the /proc state letter (fs/proc/array.c task_state_index): the
// highest reportable bit of state, "I" for TASK_IDLE.
func (st *stateTable) Letter(rawState, exitState uint64) byte {
	report := st.interruptible | st.uninterruptible | st.stopped | st.traced | st.exitDead | st.exitZombie | st.parked
	if st.idleIndex >= 0 && st.noload != 0 && rawState == st.uninterruptible|st.noload && exitState == 0 {
		return st.letters[st.idleIndex]
	}
	v := rawState&report | exitState
	idx := bits.Len64(v)
	if idx < len(st.letters) {
		return st.letters[idx]
	}
	return '?'
}
