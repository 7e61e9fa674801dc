package disasm

import (
	"encoding/binary"

	"golang.org/x/arch/arm/armasm"
	"golang.org/x/arch/arm64/arm64asm"
)

// ExtraWord is the supplement (extra.go) for the tests: whether x/arch
// rejects the 4-byte word w of arch, and if so what the supplement makes
// of it.
func ExtraWord(arch Arch, w uint32) (rejected bool, text string, ok bool) {
	b := binary.LittleEndian.AppendUint32(nil, w)
	switch arch {
	case ARM64:
		if _, err := arm64asm.Decode(b); err != nil {
			text, ok = decodeExtra(arm64Extra, w)
			return true, text, ok
		}
	case ARM:
		if _, err := armasm.Decode(b, armasm.ModeARM); err != nil {
			text, ok = decodeExtra(armExtra, w)
			return true, text, ok
		}
	}
	return false, "", false
}
