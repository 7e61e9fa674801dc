package dump

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// VMCoreInfo is the kernel's VMCOREINFO text: lines of KEY=VALUE such as
// "OSRELEASE=6.1.0-18-amd64", "PAGESIZE=4096",
// "SYMBOL(swapper_pg_dir)=ffffffff82a0c000", "OFFSET(list_head.next)=0",
// "NUMBER(phys_base)=-2147483648", "KERNELOFFSET=2a000000".
type VMCoreInfo struct {
	raw  string
	keys map[string]string // first value of each key
	// order lists the keys in the order they appear.
	order []string
}

// ErrNoVMCoreInfo is returned by ParseVMCoreInfo for text holding no
// KEY=VALUE line at all.
var ErrNoVMCoreInfo = errors.New("no KEY=VALUE line in VMCOREINFO")

// ParseVMCoreInfo parses VMCOREINFO text. Trailing NULs are dropped, lines
// without '=' are ignored (kept in Raw), and for a key given twice the first
// value wins, as makedumpfile reads it.
func ParseVMCoreInfo(text []byte) (*VMCoreInfo, error) {
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	v := &VMCoreInfo{raw: string(text), keys: make(map[string]string)}
	for _, line := range strings.Split(v.raw, "\n") {
		line = strings.TrimRight(line, "\r")
		k, val, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		if _, dup := v.keys[k]; dup {
			continue
		}
		v.keys[k] = val
		v.order = append(v.order, k)
	}
	if len(v.keys) == 0 {
		return nil, ErrNoVMCoreInfo
	}
	return v, nil
}

// Raw returns the text as found in the dump (up to the first NUL).
func (v *VMCoreInfo) Raw() string { return v.raw }

// Keys returns every key in the order of first appearance.
func (v *VMCoreInfo) Keys() []string { return append([]string(nil), v.order...) }

// Get returns the value of key exactly as written.
func (v *VMCoreInfo) Get(key string) (string, bool) {
	s, ok := v.keys[key]
	return s, ok
}

// hexKey reports whether the kernel prints key's value in hex without a
// 0x prefix: SYMBOL(), ADDRESS(), KERNELOFFSET and phys_offset-like keys.
func hexKey(key string) bool {
	if strings.HasPrefix(key, "SYMBOL(") || strings.HasPrefix(key, "ADDRESS(") {
		return true
	}
	name := key
	if strings.HasPrefix(name, "NUMBER(") && strings.HasSuffix(name, ")") {
		name = name[len("NUMBER(") : len(name)-1]
	}
	switch strings.ToUpper(name) {
	case "KERNELOFFSET", "PHYS_OFFSET", "PHYS_RAM_BASE", "KIMAGE_VOFFSET":
		return true
	}
	return false
}

// parseValue parses a VMCOREINFO value per the key's convention: hex for
// hex keys or any value with a 0x prefix, signed decimal otherwise.
func parseValue(key, s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	base := 10
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		base, s = 16, s[2:]
	} else if hexKey(key) {
		base = 16
	}
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, false
	}
	u, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		u = -u
	}
	return u, true
}

// Uint returns key's value as an unsigned number: hex for SYMBOL(),
// ADDRESS(), KERNELOFFSET and phys_offset-like keys (and for any value
// written with 0x), decimal for SIZE(), OFFSET(), NUMBER(), LENGTH(),
// PAGESIZE and the rest. A negative decimal comes back in two's complement.
func (v *VMCoreInfo) Uint(key string) (uint64, bool) {
	s, ok := v.keys[key]
	if !ok {
		return 0, false
	}
	return parseValue(key, s)
}

// Int is Uint read as signed (x86_64's NUMBER(phys_base) can be negative).
func (v *VMCoreInfo) Int(key string) (int64, bool) {
	u, ok := v.Uint(key)
	return int64(u), ok
}

// Symbol returns SYMBOL(name).
func (v *VMCoreInfo) Symbol(name string) (uint64, bool) { return v.Uint("SYMBOL(" + name + ")") }

// Number returns NUMBER(name).
func (v *VMCoreInfo) Number(name string) (int64, bool) { return v.Int("NUMBER(" + name + ")") }

// Offset returns OFFSET(structMember), e.g. Offset("task_struct.tasks").
func (v *VMCoreInfo) Offset(structMember string) (int64, bool) {
	return v.Int("OFFSET(" + structMember + ")")
}

// Size returns SIZE(name).
func (v *VMCoreInfo) Size(name string) (int64, bool) { return v.Int("SIZE(" + name + ")") }

// Length returns LENGTH(name).
func (v *VMCoreInfo) Length(name string) (int64, bool) { return v.Int("LENGTH(" + name + ")") }
