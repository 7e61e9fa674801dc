package dump

import "errors"

// LZO1X decompression (the "lzo1x_decompress_safe" algorithm), written from
// the format description in the Linux kernel's Documentation/staging/lzo.rst.
// Every read of src and write of dst is bounds-checked; matches are copied
// with copy() rather than byte by byte.

var (
	errLZOInputOverrun  = errors.New("lzo: input overrun")
	errLZOOutputOverrun = errors.New("lzo: output overrun")
	errLZOLookbehind    = errors.New("lzo: lookbehind overrun")
	errLZONotConsumed   = errors.New("lzo: input not fully consumed")
	errLZOBadEnd        = errors.New("lzo: bad end-of-stream marker")
)

// lzo1xDecompress decompresses the LZO1X stream src into dst and returns
// the number of bytes written. The stream must end with its end marker and
// nothing after it. The instruction set is the kernel's
// lib/lzo/lzo1x_decompress_safe.c (Documentation/staging/lzo.rst).
//
// It is the decompressor's hot loop, one case per instruction class, kept
// whole on purpose like the DWARF scanner's: split into small decoders
// that take and return ip/op (the best of three tries, with the match copy
// left inline), BenchmarkLZO ran 4-7% slower on pattern64k and 5% on
// sparse4k (min and median of 12 interleaved runs); with the extended
// length out of line, 65% slower. The positions ip and op must stay
// locals of one function.
func lzo1xDecompress(dst, src []byte) (int, error) {
	ip, op := 0, 0
	// state: literals copied by the last instruction (0..3), 4 for a
	// literal run of 4 or more.
	state := 0
	if len(src) == 0 {
		return 0, errLZOInputOverrun
	}
	if b := int(src[0]); b > 17 {
		// A first byte of 18..255 copies b-17 literals.
		t := b - 17
		ip = 1
		if t > len(src)-ip {
			return op, errLZOInputOverrun
		}
		if t > len(dst)-op {
			return op, errLZOOutputOverrun
		}
		copy(dst[op:op+t], src[ip:ip+t])
		ip += t
		op += t
		state = min(t, 4)
	}
	// extLen reads the zero-byte-extended length after an instruction
	// whose length bits are all zero: base + 255 per zero byte + the
	// first non-zero byte.
	extLen := func(base int) (int, error) {
		start := ip
		for ip < len(src) && src[ip] == 0 {
			ip++
		}
		if ip >= len(src) {
			return 0, errLZOInputOverrun
		}
		zeros := ip - start
		if zeros > len(dst)/255+1 {
			return 0, errLZOOutputOverrun // longer than any page could be
		}
		n := zeros*255 + base + int(src[ip])
		ip++
		return n, nil
	}
	for {
		if ip >= len(src) {
			return op, errLZOInputOverrun
		}
		inst := int(src[ip])
		ip++
		var length, dist, next int
		switch {
		case inst >= 64:
			// M2: 0 1 L D D D S S (length 3..4) or 1 L L D D D S S
			// (length 5..8), then H: distance (H << 3) + D + 1.
			if ip >= len(src) {
				return op, errLZOInputOverrun
			}
			length = inst>>5 + 1
			dist = int(src[ip])<<3 + (inst>>2)&7 + 1
			ip++
			next = inst & 3
		case inst >= 32:
			// M3: 0 0 1 L L L L L, then LE16 D(14) S(2): distance D + 1.
			length = inst & 31
			if length == 0 {
				n, err := extLen(31)
				if err != nil {
					return op, err
				}
				length = n
			}
			length += 2
			if len(src)-ip < 2 {
				return op, errLZOInputOverrun
			}
			v := int(src[ip]) | int(src[ip+1])<<8
			ip += 2
			dist = v>>2 + 1
			next = v & 3
		case inst >= 16:
			// M4: 0 0 0 1 H L L L, then LE16 D(14) S(2): distance
			// 16384 + (H << 14) + D; distance 16384 ends the stream.
			length = inst & 7
			if length == 0 {
				n, err := extLen(7)
				if err != nil {
					return op, err
				}
				length = n
			}
			length += 2
			if len(src)-ip < 2 {
				return op, errLZOInputOverrun
			}
			v := int(src[ip]) | int(src[ip+1])<<8
			ip += 2
			dist = (inst&8)<<11 + v>>2
			next = v & 3
			if dist == 0 {
				switch {
				case length != 3:
					return op, errLZOBadEnd
				case ip != len(src):
					return op, errLZONotConsumed
				}
				return op, nil
			}
			dist += 16384
		default: // 0..15: depends on the previous instruction's literals
			switch state {
			case 0:
				// Literal run: 3 + (L ?: 15 + extension) bytes.
				length = inst
				if length == 0 {
					n, err := extLen(15)
					if err != nil {
						return op, err
					}
					length = n
				}
				length += 3
				if length > len(src)-ip {
					return op, errLZOInputOverrun
				}
				if length > len(dst)-op {
					return op, errLZOOutputOverrun
				}
				copy(dst[op:op+length], src[ip:ip+length])
				ip += length
				op += length
				state = 4
				continue
			case 4:
				// 3-byte match, distance (H << 2) + D + 2049.
				if ip >= len(src) {
					return op, errLZOInputOverrun
				}
				length = 3
				dist = int(src[ip])<<2 + inst>>2 + 2049
			default:
				// 2-byte match, distance (H << 2) + D + 1.
				if ip >= len(src) {
					return op, errLZOInputOverrun
				}
				length = 2
				dist = int(src[ip])<<2 + inst>>2 + 1
			}
			ip++
			next = inst & 3
		}
		// Copy the match, then next (0..3) literals.
		if dist > op {
			return op, errLZOLookbehind
		}
		if length > len(dst)-op {
			return op, errLZOOutputOverrun
		}
		from := op - dist
		if dist >= length {
			copy(dst[op:op+length], dst[from:from+length])
		} else {
			// Overlapping: the pattern of period dist repeats; copy in
			// growing multiples of dist.
			for n := 0; n < length; {
				n += copy(dst[op+n:op+length], dst[from:op+n])
			}
		}
		op += length
		if next > 0 {
			if next > len(src)-ip {
				return op, errLZOInputOverrun
			}
			if next > len(dst)-op {
				return op, errLZOOutputOverrun
			}
			copy(dst[op:op+next], src[ip:ip+next])
			ip += next
			op += next
		}
		state = next
	}
}
