package dump

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// Page descriptor flags of kdump-compressed files (also used in the
// header's status word).
const (
	dumpCompressedZlib       = 0x1
	dumpCompressedLZO        = 0x2
	dumpCompressedSnappy     = 0x4
	dumpCompressedIncomplete = 0x8 // header status only: dump was cut short
	dumpExcludedVmemmap      = 0x10
	dumpCompressedZstd       = 0x20

	compressionMask = dumpCompressedZlib | dumpCompressedLZO | dumpCompressedSnappy | dumpCompressedZstd
)

// compressionNames lists the codecs named in flags, "+"-joined.
func compressionNames(flags uint32) string {
	s := ""
	for _, c := range []struct {
		bit  uint32
		name string
	}{{dumpCompressedZlib, "zlib"}, {dumpCompressedLZO, "lzo"}, {dumpCompressedSnappy, "snappy"}, {dumpCompressedZstd, "zstd"}} {
		if flags&c.bit != 0 {
			if s != "" {
				s += "+"
			}
			s += c.name
		}
	}
	return s
}

// decoder decompresses kdump pages. One per Dump; safe for concurrent use.
type decoder struct {
	pageSize int

	zlibPool sync.Pool // of io.ReadCloser implementing zlib.Resetter

	zstdOnce sync.Once
	zstd     *zstd.Decoder
	zstdErr  error
}

func newDecoder(pageSize int) *decoder { return &decoder{pageSize: pageSize} }

// errPageSize is wrapped when a page decompresses to the wrong size.
var errPageSize = errors.New("decompressed size differs from the block size")

// decode decompresses src, compressed as flags says, into dst, which must
// have length pageSize. Any failure (including a panic in a codec, which
// should not happen) is returned as an error.
func (d *decoder) decode(dst, src []byte, flags uint32) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decompressor failed: %v", r)
		}
	}()
	switch flags & compressionMask {
	case dumpCompressedZlib:
		return d.zlib(dst, src)
	case dumpCompressedLZO:
		n, err := lzo1xDecompress(dst, src)
		if err != nil {
			return err
		}
		if n != len(dst) {
			return fmt.Errorf("lzo: %w (%d, want %d)", errPageSize, n, len(dst))
		}
		return nil
	case dumpCompressedSnappy:
		n, err := snappy.DecodedLen(src)
		if err != nil {
			return fmt.Errorf("snappy: %w", err)
		}
		if n != len(dst) {
			return fmt.Errorf("snappy: %w (%d, want %d)", errPageSize, n, len(dst))
		}
		out, err := snappy.Decode(dst, src)
		if err != nil {
			return fmt.Errorf("snappy: %w", err)
		}
		if len(out) != len(dst) || &out[0] != &dst[0] {
			return fmt.Errorf("snappy: %w", errPageSize)
		}
		return nil
	case dumpCompressedZstd:
		return d.zstdDecode(dst, src)
	}
	return fmt.Errorf("unknown or multiple compression flags %#x", flags)
}

func (d *decoder) zlib(dst, src []byte) error {
	var zr io.ReadCloser
	br := bytes.NewReader(src)
	if v := d.zlibPool.Get(); v != nil {
		zr = v.(io.ReadCloser)
		if err := zr.(zlib.Resetter).Reset(br, nil); err != nil {
			return fmt.Errorf("zlib: %w", err)
		}
	} else {
		var err error
		zr, err = zlib.NewReader(br)
		if err != nil {
			return fmt.Errorf("zlib: %w", err)
		}
	}
	n, err := io.ReadFull(zr, dst)
	if err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return fmt.Errorf("zlib: %w (%d, want %d)", errPageSize, n, len(dst))
		}
		return fmt.Errorf("zlib: %w", err)
	}
	// Reading on to EOF checks the Adler-32 and that nothing follows.
	var one [1]byte
	if m, err := zr.Read(one[:]); m != 0 || err != io.EOF {
		if err != nil && err != io.EOF {
			return fmt.Errorf("zlib: %w", err)
		}
		return fmt.Errorf("zlib: %w (more than %d bytes)", errPageSize, len(dst))
	}
	d.zlibPool.Put(zr)
	return nil
}

func (d *decoder) zstdDecode(dst, src []byte) error {
	d.zstdOnce.Do(func() {
		limit := uint64(d.pageSize) * 2
		if limit < 1<<20 {
			limit = 1 << 20
		}
		d.zstd, d.zstdErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(limit),
			zstd.WithDecoderMaxWindow(limit),
			zstd.WithDecoderLowmem(true))
	})
	if d.zstdErr != nil {
		return fmt.Errorf("zstd: %w", d.zstdErr)
	}
	out, err := d.zstd.DecodeAll(src, dst[:0])
	if err != nil {
		return fmt.Errorf("zstd: %w", err)
	}
	if len(out) != len(dst) || &out[0] != &dst[0] {
		return fmt.Errorf("zstd: %w (%d, want %d)", errPageSize, len(out), len(dst))
	}
	return nil
}

// Close releases the zstd decoder's goroutines, if any were started.
func (d *decoder) Close() {
	if d.zstd != nil {
		d.zstd.Close()
	}
}
