package kstructs

import (
	"debug/dwarf"
	"fmt"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// TaintFlag is one entry of the kernel's taint_flags[] table.
type TaintFlag struct {
	Bit     int    `json:"bit"`
	Char    string `json:"char"`     // c_true: shown when the taint is set
	NotChar string `json:"not_char"` // c_false: shown when it is not
	Module  bool   `json:"module"`   // also a per-module taint
	Desc    string `json:"desc,omitempty"`
	Set     bool   `json:"set"`
}

// Taint is the kernel's taint state: tainted_mask decoded with the
// taint_flags[] table of this kernel (read from the dump, so new flags of
// newer kernels need no change here).
type Taint struct {
	Mask  uint64      `json:"mask"`
	Flags []TaintFlag `json:"flags"`
}

// Tainted reports whether any taint bit is set.
func (t Taint) Tainted() bool { return t.Mask != 0 }

// String is what the kernel's print_tainted() prints: "Not tainted", or
// "Tainted: " followed by one character per flag (c_true or c_false).
func (t Taint) String() string {
	if t.Mask == 0 {
		return "Not tainted"
	}
	var b strings.Builder
	b.WriteString("Tainted: ")
	for _, f := range t.Flags {
		if f.Set {
			b.WriteString(f.Char)
		} else {
			b.WriteString(f.NotChar)
		}
	}
	if len(t.Flags) == 0 {
		fmt.Fprintf(&b, "%#x", t.Mask)
	}
	return b.String()
}

// Letters is the characters of the set flags only ("PWO"); mask bits the
// table does not describe appear as "?<bit>".
func (t Taint) Letters() string {
	var b strings.Builder
	for _, f := range t.Flags {
		if f.Set {
			b.WriteString(f.Char)
		}
	}
	for bit := len(t.Flags); bit < 64; bit++ {
		if t.Mask&(1<<bit) != 0 {
			fmt.Fprintf(&b, "?%d", bit)
		}
	}
	return b.String()
}

// Taint reads tainted_mask and the taint_flags[] table. The table is
// read from the dump, falling back to the vmlinux's own copy (it is const
// data) if the dump lacks the page.
func (k *Kernel) Taint() (Taint, error) {
	var t Taint
	mv, err := k.Image.Variable("tainted_mask")
	if err != nil {
		return t, err
	}
	size := mv.Type.Size()
	if size != 4 && size != 8 {
		return t, fmt.Errorf("tainted_mask has size %d", size)
	}
	b := make([]byte, size)
	if err := k.ReadVirt(b, mv.Addr); err != nil {
		return t, fmt.Errorf("reading tainted_mask at %#x: %w", mv.Addr, err)
	}
	t.Mask, _ = dwarfx.Field{ByteSize: size}.Extract(b, k.Image.ByteOrder())

	tv, err := k.Image.Variable("taint_flags")
	if err != nil {
		return t, fmt.Errorf("tainted_mask is %#x but the kernel has no taint_flags table: %w", t.Mask, err)
	}
	at, ok := dwarfx.Strip(tv.Type).(*dwarf.ArrayType)
	if !ok || at.Count <= 0 || at.Count > 64 {
		return t, fmt.Errorf("taint_flags is not an array of at most 64 entries (%s)", tv.Type)
	}
	st, err := pkStruct(k.Image, at.Type, false)
	if err != nil {
		return t, fmt.Errorf("taint_flags entries: %w", err)
	}
	cTrue, err := pkMember(k.Image, st, "c_true")
	if err != nil {
		return t, err
	}
	cFalse, err := pkMember(k.Image, st, "c_false")
	if err != nil {
		return t, err
	}
	module := pkOptMember(k.Image, st, "module")
	desc := pkOptMember(k.Image, st, "desc")
	es := st.Size()
	raw := make([]byte, at.Count*es)
	if err := k.ReadVirt(raw, tv.Addr); err != nil {
		lb, lerr := k.Image.LinkBytes("taint_flags", len(raw))
		if lerr != nil || len(lb) < len(raw) {
			return t, fmt.Errorf("reading taint_flags at %#x: %w", tv.Addr, err)
		}
		raw = lb
	}
	bo := k.Image.ByteOrder()
	for i := int64(0); i < at.Count; i++ {
		e := raw[i*es : (i+1)*es]
		ct, _ := cTrue.Extract(e, bo)
		cf, _ := cFalse.Extract(e, bo)
		m, _ := module.Extract(e, bo)
		f := TaintFlag{Bit: int(i), Char: string(rune(byte(ct))), NotChar: string(rune(byte(cf))), Module: m != 0, Set: t.Mask&(1<<i) != 0}
		if p, ok := desc.Extract(e, bo); ok && p != 0 {
			f.Desc, _ = k.readCString(p, 128)
		}
		t.Flags = append(t.Flags, f)
	}
	return t, nil
}
