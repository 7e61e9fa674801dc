package dwarfx

// The persistent index cache's file format: what Open builds from the
// vmlinux (the DWARF name index and the symbol table) as flat records, so a
// later Open maps the file and rebuilds its tables without scanning
// .debug_info. Everything read from the file is bounds-checked: a damaged
// file gives an error (and a rebuild), never a panic or a wrong answer, and
// the body's CRC catches what the bounds cannot.
//
//	header: magic "KINSPIDX", u32 format, u32 header length, u64 body length,
//	        u32 body CRC-32C, key string (u32 length + bytes), u32 CRC-32C of
//	        the header bytes before it
//	body:   u64 string-blob length, the blob, then the records (encodeIndex)
//
// Integers are little-endian whatever the host: the file is host-local, but a
// fixed order keeps the decoder simple and the fuzz corpus portable.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"unsafe"
)

const (
	cacheMagic = "KINSPIDX"
	// cacheFormat changes whenever the records below or what the scanner
	// records change (it is also part of the key via the tool version).
	cacheFormat = 3 // 2: name tables hashed (namemap.go), not sorted; 3: no unit size in type candidates
	// cacheMaxCount bounds every record count read from the file so a
	// damaged count cannot ask for a huge allocation.
	cacheMaxCount = 1 << 28
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// cacheWriter builds a cache body: records in rec, strings in blob.
type cacheWriter struct {
	rec  []byte
	blob []byte
}

func (w *cacheWriter) u8(v uint8)   { w.rec = append(w.rec, v) }
func (w *cacheWriter) u32(v uint32) { w.rec = binary.LittleEndian.AppendUint32(w.rec, v) }
func (w *cacheWriter) u64(v uint64) { w.rec = binary.LittleEndian.AppendUint64(w.rec, v) }
func (w *cacheWriter) i32(v int32)  { w.u32(uint32(v)) }
func (w *cacheWriter) bool(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

func (w *cacheWriter) str(s string) {
	w.u32(uint32(len(w.blob)))
	w.u32(uint32(len(s)))
	w.blob = append(w.blob, s...)
}

func (w *cacheWriter) count(n int) { w.u32(uint32(n)) }

// body is the blob's length, the blob and the records, in pieces (written
// one after the other, never joined: no second copy of a 16 MB index).
func (w *cacheWriter) body() [][]byte {
	return [][]byte{binary.LittleEndian.AppendUint64(nil, uint64(len(w.blob))), w.blob, w.rec}
}

// cacheReader decodes a body; the first error sticks and later reads return
// zeros, so decoders check err once at the end of a section.
type cacheReader struct {
	b    []byte
	p    int
	blob []byte
	err  error
}

func (r *cacheReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("index cache: %s at body offset %#x", what, r.p)
	}
}

func (r *cacheReader) need(n int) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || n > len(r.b)-r.p {
		r.fail(fmt.Sprintf("truncated (%d bytes wanted)", n))
		return false
	}
	return true
}

func (r *cacheReader) u8() uint8 {
	if !r.need(1) {
		return 0
	}
	r.p++
	return r.b[r.p-1]
}

func (r *cacheReader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	r.p += 4
	return binary.LittleEndian.Uint32(r.b[r.p-4:])
}

func (r *cacheReader) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	r.p += 8
	return binary.LittleEndian.Uint64(r.b[r.p-8:])
}

func (r *cacheReader) i32() int32 { return int32(r.u32()) }
func (r *cacheReader) bool() bool { return r.u8() != 0 }

// str returns a string aliasing the blob (the mapped file).
func (r *cacheReader) str() string {
	off, n := uint64(r.u32()), uint64(r.u32())
	if r.err != nil {
		return ""
	}
	if off > uint64(len(r.blob)) || n > uint64(len(r.blob))-off {
		r.fail(fmt.Sprintf("string %#x+%d outside the blob", off, n))
		return ""
	}
	if n == 0 {
		return ""
	}
	return unsafe.String(&r.blob[off], int(n))
}

// count reads a record count, at most what the remaining bytes can hold at
// minSize bytes a record.
func (r *cacheReader) count(minSize int) int {
	n := int(r.u32())
	if r.err == nil && (n > cacheMaxCount || n*minSize > len(r.b)-r.p) {
		r.fail(fmt.Sprintf("count %d too large", n))
		return 0
	}
	return n
}

// index32 checks that v indexes a table of n entries (or is -1 if negOK).
func (r *cacheReader) index32(v int32, n int, negOK bool, what string) int32 {
	if (v < 0 && !(negOK && v == -1)) || int(v) >= n {
		r.fail(fmt.Sprintf("%s index %d out of range (%d)", what, v, n))
		return -1
	}
	return v
}

// newCacheReader splits a body into its blob and records.
func newCacheReader(body []byte) (*cacheReader, error) {
	if len(body) < 8 {
		return nil, errors.New("index cache: body truncated")
	}
	n := binary.LittleEndian.Uint64(body)
	if n > uint64(len(body)-8) {
		return nil, fmt.Errorf("index cache: string blob of %d bytes runs past the body (%d)", n, len(body))
	}
	return &cacheReader{b: body, p: 8 + int(n), blob: body[8 : 8+n]}, nil
}

// encodeHeader returns the header for key and the body (in pieces).
func encodeHeader(key string, body [][]byte) []byte {
	var n uint64
	var crc uint32
	for _, b := range body {
		n += uint64(len(b))
		crc = crc32.Update(crc, castagnoli, b)
	}
	h := make([]byte, 0, 40+len(key))
	h = append(h, cacheMagic...)
	h = binary.LittleEndian.AppendUint32(h, cacheFormat)
	hlen := uint32(8 + 4 + 4 + 8 + 4 + 4 + len(key) + 4)
	h = binary.LittleEndian.AppendUint32(h, hlen)
	h = binary.LittleEndian.AppendUint64(h, n)
	h = binary.LittleEndian.AppendUint32(h, crc)
	h = binary.LittleEndian.AppendUint32(h, uint32(len(key)))
	h = append(h, key...)
	return binary.LittleEndian.AppendUint32(h, crc32.Checksum(h, castagnoli))
}

// decodeHeader validates a whole cache file against key and returns its body.
func decodeHeader(file []byte, key string) ([]byte, error) {
	const fixed = 8 + 4 + 4 + 8 + 4 + 4
	if len(file) < fixed+4 {
		return nil, fmt.Errorf("index cache: truncated header (%d bytes)", len(file))
	}
	if string(file[:8]) != cacheMagic {
		return nil, errors.New("index cache: bad magic")
	}
	le := binary.LittleEndian
	if v := le.Uint32(file[8:]); v != cacheFormat {
		return nil, fmt.Errorf("index cache: format %d, want %d", v, cacheFormat)
	}
	hlen := uint64(le.Uint32(file[12:]))
	klen := uint64(le.Uint32(file[fixed-4:]))
	if hlen != fixed+klen+4 || hlen > uint64(len(file)) {
		return nil, fmt.Errorf("index cache: header length %d does not fit the file (%d bytes)", hlen, len(file))
	}
	if got := le.Uint32(file[hlen-4:]); got != crc32.Checksum(file[:hlen-4], castagnoli) {
		return nil, errors.New("index cache: header checksum mismatch")
	}
	if k := string(file[fixed : fixed+klen]); k != key {
		return nil, fmt.Errorf("index cache: key %q, want %q", k, key)
	}
	blen := le.Uint64(file[16:])
	if blen != uint64(len(file))-hlen {
		return nil, fmt.Errorf("index cache: body is %d bytes, header says %d (truncated file?)", uint64(len(file))-hlen, blen)
	}
	body := file[hlen:]
	if le.Uint32(file[24:]) != crc32.Checksum(body, castagnoli) {
		return nil, errors.New("index cache: body checksum mismatch")
	}
	return body, nil
}
