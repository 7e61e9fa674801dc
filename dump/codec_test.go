package dump

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lzo "github.com/anchore/go-lzo"
)

func TestDecodeLZOVectors(t *testing.T) {
	raws, _ := filepath.Glob("testdata/lzo/*.raw")
	if len(raws) == 0 {
		t.Fatal("no vectors")
	}
	for _, r := range raws {
		raw, _ := os.ReadFile(r)
		c, err := os.ReadFile(strings.TrimSuffix(r, ".raw") + ".lzo")
		if err != nil {
			t.Fatal(err)
		}
		d := newDecoder(len(raw))
		out := make([]byte, len(raw))
		if err := d.decode(out, c, dumpCompressedLZO); err != nil || !bytes.Equal(out, raw) {
			t.Errorf("%s: %v", r, err)
		}
		// Wrong output size, cut input, garbage: errors, no panics.
		if err := d.decode(make([]byte, len(raw)+1), c, dumpCompressedLZO); err == nil {
			t.Errorf("%s: bigger page accepted", r)
		}
		if err := d.decode(make([]byte, len(raw)-1), c, dumpCompressedLZO); err == nil {
			t.Errorf("%s: smaller page accepted", r)
		}
		for cut := 0; cut < len(c); cut += 1 + len(c)/50 {
			if err := d.decode(out, c[:cut], dumpCompressedLZO); err == nil {
				t.Errorf("%s: cut at %d accepted", r, cut)
			}
		}
	}
	lit := lzoLiteral(pattern(5000, 3))
	out := make([]byte, 5000)
	if err := newDecoder(5000).decode(out, lit, dumpCompressedLZO); err != nil || !bytes.Equal(out, pattern(5000, 3)) {
		t.Errorf("literal stream: %v", err)
	}
}

func TestDecodeCodecs(t *testing.T) {
	page := testPage(5, 4096)
	for _, codec := range []uint32{dumpCompressedZlib, dumpCompressedSnappy, dumpCompressedZstd} {
		c, flags := compressPage(t, codec, page)
		if flags != codec {
			t.Fatalf("%#x did not compress", codec)
		}
		d := newDecoder(4096)
		for i := 0; i < 3; i++ { // reuse pooled state
			out := make([]byte, 4096)
			if err := d.decode(out, c, codec); err != nil || !bytes.Equal(out, page) {
				t.Errorf("%s: %v", compressionNames(codec), err)
			}
		}
		if err := d.decode(make([]byte, 8192), c, codec); err == nil {
			t.Errorf("%s: wrong size accepted", compressionNames(codec))
		}
		if err := d.decode(make([]byte, 2048), c, codec); err == nil {
			t.Errorf("%s: short page accepted", compressionNames(codec))
		}
		if err := d.decode(make([]byte, 4096), c[:len(c)/2], codec); err == nil {
			t.Errorf("%s: cut data accepted", compressionNames(codec))
		}
		d.Close()
	}
	d := newDecoder(4096)
	if err := d.decode(make([]byte, 4096), []byte{1}, dumpCompressedZlib|dumpCompressedLZO); err == nil {
		t.Error("two codecs accepted")
	}
}

// lzoOracle decompresses with github.com/anchore/go-lzo, an independent
// implementation, to cross-check lzo1xDecompress.
func lzoOracle(dst, src []byte) (int, error) { return lzo.Decompress(src, dst) }

// TestLZOCrafted exercises every instruction kind with hand-made streams.
func TestLZOCrafted(t *testing.T) {
	cases := []struct {
		name string
		src  []byte
		want string
		ok   bool
	}{
		{"empty stream", []byte{0x11, 0, 0}, "", true},
		{"first-byte literals", []byte{17 + 5, 'h', 'e', 'l', 'l', 'o', 0x11, 0, 0}, "hello", true},
		{"1 literal then 2-byte match", []byte{18, 'a', 0x00, 0x00, 0x11, 0, 0}, "aaa", true},
		// 'ab' then M2 length 3 distance 2 -> 'ababa'.
		{"M2 overlapping", []byte{19, 'a', 'b', 0x40 | 1<<2, 0x00, 0x11, 0, 0}, "ababa", true},
		// 4 literals, then 0..15 means a 3-byte match at distance >= 2049: too far.
		{"M1 far match lookbehind", []byte{21, 'a', 'b', 'c', 'd', 0x00, 0x00, 0x11, 0, 0}, "", false},
		// 'xyz' then M3 length 2+5=7 distance 3 -> 'xyzxyzxyzx'.
		{"M3", []byte{20, 'x', 'y', 'z', 0x20 | 5, 2 << 2, 0, 0x11, 0, 0}, "xyzxyzxyzx", true},
		// M3 with extended length: 2 + 31 + 4 = 37 copies of 'q' after one literal.
		{"M3 extended", []byte{18, 'q', 0x20, 4, 0, 0, 0x11, 0, 0}, "q" + strings.Repeat("q", 37), true},
		// M3 with trailing literals S=2.
		{"M3 trailing literals", []byte{18, 'q', 0x21, 0 | 2, 0, 'r', 's', 0x11, 0, 0}, "qqqqrs", true},
		// Long literal run (state 0 at start): 3 + 15 + 0*255 + 2 = 20.
		{"literal run extended", append(append([]byte{0x00, 0x02}, bytes.Repeat([]byte{'L'}, 20)...), 0x11, 0, 0), strings.Repeat("L", 20), true},
		{"literal run short", []byte{0x01, 'a', 'b', 'c', 'd', 0x11, 0, 0}, "abcd", true},
		{"bad end length", []byte{0x12, 0, 0}, "", false},
		{"trailing garbage", []byte{0x11, 0, 0, 1}, "", false},
		{"cut", []byte{17 + 5, 'h', 'e'}, "", false},
		{"no end marker", []byte{17 + 2, 'h', 'e'}, "", false},
		{"lookbehind", []byte{18, 'a', 0x40 | 7<<2, 0x10, 0x11, 0, 0}, "", false},
		{"empty input", nil, "", false},
	}
	for _, c := range cases {
		for _, impl := range []struct {
			name string
			fn   func(dst, src []byte) (int, error)
		}{{"mine", lzo1xDecompress}, {"oracle", lzoOracle}} {
			dst := make([]byte, 100)
			n, err := impl.fn(dst, c.src)
			if (err == nil) != c.ok || (c.ok && string(dst[:n]) != c.want) {
				t.Errorf("%s/%s: %q, %v; want %q ok=%v", c.name, impl.name, dst[:n], err, c.want, c.ok)
			}
		}
	}
}

// TestLZODifferential compares with the oracle on mutated vectors.
func TestLZODifferential(t *testing.T) {
	raws, _ := filepath.Glob("testdata/lzo/*.lzo")
	rng := rand.New(rand.NewSource(5))
	for i := 0; i < 20000; i++ {
		c, _ := os.ReadFile(raws[rng.Intn(len(raws))])
		for k := rng.Intn(4); k > 0; k-- {
			c[rng.Intn(len(c))] = byte(rng.Intn(256))
		}
		if rng.Intn(4) == 0 {
			c = c[:rng.Intn(len(c))]
		}
		checkLZODiff(t, c, 1+rng.Intn(70000))
	}
}

func checkLZODiff(t *testing.T, src []byte, n int) {
	a, b := make([]byte, n), make([]byte, n)
	na, ea := lzo1xDecompress(a, src)
	nb, eb := lzoOracle(b, src)
	if (ea == nil) != (eb == nil) {
		t.Fatalf("disagree on %x (dst %d): mine %v, oracle %v", src, n, ea, eb)
	}
	if ea == nil && (na != nb || !bytes.Equal(a[:na], b[:nb])) {
		t.Fatalf("outputs differ on %x", src)
	}
}

func BenchmarkLZO(b *testing.B) {
	for _, in := range []string{"sparse4k", "pattern64k"} {
		raw, _ := os.ReadFile("testdata/lzo/" + in + ".raw")
		c, _ := os.ReadFile("testdata/lzo/" + in + ".lzo")
		dst := make([]byte, len(raw))
		for _, impl := range []struct {
			name string
			fn   func(dst, src []byte) (int, error)
		}{{"mine", lzo1xDecompress}, {"oracle", lzoOracle}} {
			b.Run(in+"/"+impl.name, func(b *testing.B) {
				b.SetBytes(int64(len(raw)))
				for i := 0; i < b.N; i++ {
					if _, err := impl.fn(dst, c); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
