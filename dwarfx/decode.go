package dwarfx

import "encoding/binary"

// DecodeUint decodes an unsigned integer stored in len(b) bytes (1, 2, 4 or
// 8; of a wider field, the low 8 bytes) in byte order bo. Every layer that
// decodes target memory from raw bytes uses this one.
func DecodeUint(bo binary.ByteOrder, b []byte) uint64 {
	switch len(b) {
	case 0:
		return 0
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(bo.Uint16(b))
	case 4:
		return uint64(bo.Uint32(b))
	case 8:
		return bo.Uint64(b)
	}
	if len(b) > 8 {
		if bo == binary.ByteOrder(binary.BigEndian) {
			return bo.Uint64(b[len(b)-8:])
		}
		return bo.Uint64(b[:8])
	}
	// 3, 5, 6, 7 bytes: assemble.
	var v uint64
	if bo == binary.ByteOrder(binary.BigEndian) {
		for _, c := range b {
			v = v<<8 | uint64(c)
		}
		return v
	}
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}
