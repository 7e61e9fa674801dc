package dump

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
