package dump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"testing"
)

func TestFlattenedStore(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	content := make([]byte, 100000)
	rng.Read(content)
	// Leave a hole: bytes never written read as zeros.
	for _, c := range []struct {
		name               string
		chunk              int
		shuffle, overrides bool
	}{
		{"in order", 4096, false, false},
		{"small chunks", 7, false, false},
		{"random shuffled", -1, true, false},
		{"overrides", -1, true, true},
		{"one record", len(content), false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			flat := flatten(content, c.chunk, c.shuffle, c.overrides, rng)
			f, err := parseFlattened(bytesStore(flat), "test")
			if err != nil {
				t.Fatal(err)
			}
			if f.Size() != int64(len(content)) || !f.complete {
				t.Fatalf("size %d complete %v", f.Size(), f.complete)
			}
			got := make([]byte, len(content))
			if n, err := f.ReadAt(got, 0); n != len(got) || err != nil {
				t.Fatalf("ReadAt = %d, %v", n, err)
			}
			if !bytes.Equal(got, content) {
				t.Fatal("content differs")
			}
			for i := 0; i < 200; i++ {
				off := rng.Int63n(int64(len(content)))
				n := rng.Intn(10000)
				buf := make([]byte, n)
				k, err := f.ReadAt(buf, off)
				if end := off + int64(n); end > int64(len(content)) {
					if err != io.EOF || int64(k) != int64(len(content))-off {
						t.Fatalf("ReadAt past end = %d, %v", k, err)
					}
				} else if err != nil || k != n {
					t.Fatalf("ReadAt(%d, %d) = %d, %v", off, n, k, err)
				}
				if !bytes.Equal(buf[:k], content[off:off+int64(k)]) {
					t.Fatalf("ReadAt(%d, %d) content differs", off, n)
				}
				if s := f.slice(off, n); s != nil && !bytes.Equal(s, content[off:off+int64(n)]) {
					t.Fatal("slice content differs")
				}
			}
		})
	}
}

func flatRecords(recs ...any) []byte {
	out := make([]byte, flatHeaderSize)
	copy(out, flatSignature)
	binary.BigEndian.PutUint64(out[16:], flatTypeHeader)
	binary.BigEndian.PutUint64(out[24:], 1)
	for i := 0; i+1 < len(recs); i += 2 {
		off := recs[i].(int)
		var h [16]byte
		binary.BigEndian.PutUint64(h[:], uint64(int64(off)))
		switch d := recs[i+1].(type) {
		case []byte:
			binary.BigEndian.PutUint64(h[8:], uint64(len(d)))
			out = append(out, h[:]...)
			out = append(out, d...)
		case int: // a bare size (for bad records / end marker)
			binary.BigEndian.PutUint64(h[8:], uint64(int64(d)))
			out = append(out, h[:]...)
		}
	}
	return out
}

func TestFlattenedHolesAndOverrides(t *testing.T) {
	b := flatRecords(
		0, []byte("aaaaaaaaaa"),
		20, []byte("bbbbbbbbbb"),
		5, []byte("CCCCCCCCCCCCCCCCCC"), // 5..23, overrides both
		22, []byte("d"),
		-1, -1,
	)
	f, err := parseFlattened(bytesStore(b), "t")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 30)
	n, err := f.ReadAt(got, 0)
	if n != 30 || err != nil {
		t.Fatalf("%d %v", n, err)
	}
	want := "aaaaaCCCCCCCCCCCCCCCCCdbbbbbbb"
	if string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if f.missing(0, 30) {
		t.Error("complete stream reports missing bytes")
	}
	// Hole then EOF.
	b = flatRecords(0, []byte("xy"), 10, []byte("z"), -1, -1)
	f, _ = parseFlattened(bytesStore(b), "t")
	got = make([]byte, 12)
	n, err = f.ReadAt(got, 0)
	if n != 11 || err != io.EOF || string(got[:11]) != "xy\x00\x00\x00\x00\x00\x00\x00\x00z" {
		t.Errorf("hole read: %d %v %q", n, err, got)
	}
}

func TestFlattenedCut(t *testing.T) {
	// No end marker, last record short: indexed as far as written.
	b := flatRecords(0, []byte("0123456789"), 10, []byte("abcdefghij"))
	b = b[:len(b)-4]
	f, err := parseFlattened(bytesStore(b), "t")
	if err != nil {
		t.Fatal(err)
	}
	if f.complete || f.Size() != 16 {
		t.Fatalf("complete %v size %d", f.complete, f.Size())
	}
	if !f.missing(14, 4) || f.missing(0, 16) {
		t.Error("missing() wrong")
	}
	// Cut inside a record header.
	b = flatRecords(0, []byte("0123456789"), 10, []byte("abcdefghij"))
	b = b[:flatHeaderSize+16+10+7]
	if f, err = parseFlattened(bytesStore(b), "t"); err != nil || f.Size() != 10 || f.complete {
		t.Errorf("cut header: %v", err)
	}
}

func TestFlattenedErrors(t *testing.T) {
	good := flatRecords(0, []byte("x"), -1, -1)
	mod := func(f func([]byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	for _, c := range []struct {
		name  string
		b     []byte
		trunc bool
	}{
		{"short", good[:100], true},
		{"tiny", good[:20], true},
		{"bad type", mod(func(b []byte) { b[23] = 2 }), false},
		{"bad signature tail", mod(func(b []byte) { b[14] = 'x' }), false},
		{"negative offset", flatRecords(-5, 3), false},
		{"negative size", flatRecords(0, -3), false},
		{"overflow", flatRecords(0x7fffffffffffff00, 0x1000), false},
	} {
		_, err := parseFlattened(bytesStore(c.b), "t")
		var fe *FormatError
		if !errors.As(err, &fe) || errors.Is(err, ErrTruncated) != c.trunc {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestFlattenedELF: makedumpfile -F -E writes a flattened ELF vmcore.
func TestFlattenedELF(t *testing.T) {
	f, parts := sampleELF64(t, binary.LittleEndian)
	rng := rand.New(rand.NewSource(3))
	d, err := Open(writeTemp(t, "vmcore", flatten(f, -1, true, false, rng)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Format() != "ELF64 vmcore (flattened)" || len(d.CPUs()) != 2 {
		t.Errorf("format %q", d.Format())
	}
	buf := make([]byte, len(parts[1]))
	if err := d.ReadPhys(buf, 0x200000); err != nil || !bytes.Equal(buf, parts[1]) {
		t.Errorf("read: %v", err)
	}
}
