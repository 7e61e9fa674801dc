package dwarfx

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// fixtureArches are the fixture architectures (fixture.Arches spelling).
var fixtureArches = []string{"arm64", "x86_64", "arm"}

var (
	imagesMu sync.Mutex
	images   = map[string]*Image{}
)

// openFixture opens (once per test binary) the vmlinux of the arch's
// fixture; skips or fails as fixture.Require decides when it is missing.
func openFixture(t testing.TB, arch string) *Image {
	t.Helper()
	f := fixture.Require(t, arch)
	imagesMu.Lock()
	defer imagesMu.Unlock()
	if im := images[arch]; im != nil {
		return im
	}
	im, err := Open(f.Vmlinux())
	if err != nil {
		t.Fatalf("Open(%s): %v", f.Vmlinux(), err)
	}
	images[arch] = im
	return im
}

// forEachArch runs fn as a subtest per fixture arch.
func forEachArch(t *testing.T, fn func(t *testing.T, im *Image)) {
	for _, a := range fixtureArches {
		t.Run(a, func(t *testing.T) {
			fn(t, openFixture(t, a))
		})
	}
}

// openMini opens a testdata/mini-dwarfN.elf image.
func openMini(t testing.TB, v int) *Image {
	t.Helper()
	im, err := Open(fmt.Sprintf("testdata/mini-dwarf%d.elf", v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	return im
}

// mapMemory is a fake target memory: sparse bytes; reads of unset bytes fail.
type mapMemory struct {
	order binary.ByteOrder
	b     map[uint64]byte
	reads int
}

func newMapMemory() *mapMemory { return &mapMemory{order: binary.LittleEndian, b: map[uint64]byte{}} }

func (m *mapMemory) ByteOrder() binary.ByteOrder { return m.order }

func (m *mapMemory) ReadVirt(p []byte, addr uint64) error {
	m.reads++
	for i := range p {
		c, ok := m.b[addr+uint64(i)]
		if !ok {
			return fmt.Errorf("address %#x not mapped", addr+uint64(i))
		}
		p[i] = c
	}
	return nil
}

func (m *mapMemory) write(addr uint64, p []byte) {
	for i, c := range p {
		m.b[addr+uint64(i)] = c
	}
}

func (m *mapMemory) put64(addr, v uint64) {
	var b [8]byte
	m.order.PutUint64(b[:], v)
	m.write(addr, b[:])
}

func (m *mapMemory) put32(addr uint64, v uint32) {
	var b [4]byte
	m.order.PutUint32(b[:], v)
	m.write(addr, b[:])
}
