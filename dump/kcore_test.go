package dump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"sync"
	"testing"
)

// kcoreNotes are the notes fs/proc/kcore.c writes: NT_PRSTATUS (zeroed),
// NT_PRPSINFO (pr_fname "vmlinux"), NT_TASKSTRUCT, VMCOREINFO.
func kcoreNotes(bo binary.ByteOrder) []byte {
	psinfo := make([]byte, 136)
	copy(psinfo[40:], "vmlinux\x00")
	var n []byte
	n = append(n, buildNote(bo, "CORE", NT_PRSTATUS, make([]byte, 336))...)
	n = append(n, buildNote(bo, "CORE", NT_PRPSINFO, psinfo)...)
	n = append(n, buildNote(bo, "CORE", NT_TASKSTRUCT, make([]byte, 64))...)
	n = append(n, buildNote(bo, "VMCOREINFO", 0, []byte("OSRELEASE=6.1.0-live\nPAGESIZE=4096\n"))...)
	return n
}

// TestKcore: a kcore-shaped ELF opens as a live dump with no CPU states;
// its segments without a physical address (p_paddr = -1: vmalloc,
// modules) are left out, the RAM and text segments read back.
func TestKcore(t *testing.T) {
	bo := binary.LittleEndian
	ram := bytes.Repeat([]byte{0xa5}, 0x2000)
	text := bytes.Repeat([]byte{0x5a}, 0x1000)
	path := writeTemp(t, "kcore", buildELF(elfSpec{class: 64, machine: emX86_64, notes: kcoreNotes(bo),
		loads: []elfLoadSpec{
			{paddr: 0x1000000, vaddr: 0xffffffff81000000, data: text},      // KCORE_TEXT
			{paddr: math.MaxUint64, vaddr: 0xffffc90000000000, data: text}, // KCORE_VMALLOC
			{paddr: 0x100000, vaddr: 0xffff888000100000, data: ram},        // KCORE_RAM
		}}))
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !d.Live() || len(d.CPUs()) != 0 {
		t.Fatalf("Live %v, %d CPUs: want a live dump without CPU states", d.Live(), len(d.CPUs()))
	}
	if v := d.VMCoreInfo(); v == nil {
		t.Fatal("no VMCOREINFO")
	}
	got := make([]byte, 16)
	if err := d.ReadPhys(got, 0x1000000+8); err != nil || got[0] != 0x5a {
		t.Fatalf("text: %x %v", got, err)
	}
	if err := d.ReadPhys(got, 0x100000+0x1ff0); err != nil || got[0] != 0xa5 {
		t.Fatalf("ram: %x %v", got, err)
	}
	var re *ReadError
	if err := d.ReadPhys(got, 0x3000000); !errors.As(err, &re) || !errors.Is(err, ErrNotInDump) {
		t.Fatalf("outside RAM: %v, want ErrNotInDump", err)
	}
}

// TestKcoreNotVmcore: a vmcore's notes (registers, VMCOREINFO) are not a
// kcore's.
func TestKcoreNotVmcore(t *testing.T) {
	bo := binary.LittleEndian
	notes := buildNote(bo, "CORE", NT_PRSTATUS, makePrstatus(ArchX86_64, bo, 1, make([]uint64, 27)))
	path := writeTemp(t, "vmcore", buildELF(elfSpec{class: 64, machine: emX86_64, notes: notes,
		loads: []elfLoadSpec{{paddr: 0, data: make([]byte, 0x1000)}}}))
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Live() {
		t.Fatal("a vmcore opened as live")
	}
}

// TestKcoreUnreadable: a read the kernel refuses is an excluded page
// naming the address.
func TestKcoreUnreadable(t *testing.T) {
	m := liveMem{seg: &segmentMem{segs: []segment{{start: 0x1000, end: 0x2000, st: failingStore{}, off: 0}}}, mu: new(sync.Mutex)}
	err := m.readPhys(make([]byte, 8), 0x1800)
	var re *ReadError
	if !errors.As(err, &re) || !errors.Is(err, ErrExcluded) || re.Addr != 0x1800 {
		t.Fatalf("got %v, want an ErrExcluded ReadError at 0x1800", err)
	}
}

// failingStore fails every read as a kernel refusing a kcore read does.
type failingStore struct{ bytesStore }

func (failingStore) ReadAt(p []byte, off int64) (int, error) { return 0, errors.New("bad address") }
func (failingStore) slice(off int64, n int) []byte           { return nil }
func (failingStore) Size() int64                             { return 1 << 40 }
