package dump

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestParseNotes(t *testing.T) {
	le := binary.LittleEndian
	a := buildNote(le, "CORE", NT_PRSTATUS, []byte{1, 2, 3, 4, 5})
	b := buildNote(le, "VMCOREINFO", 0, []byte("OSRELEASE=x\n"))
	c := buildNote(le, "QEMU", 0, nil)
	cases := []struct {
		name    string
		in      []byte
		want    []string // names
		wantErr bool
	}{
		{"empty", nil, nil, false},
		{"three", cat(a, b, c), []string{"CORE", "VMCOREINFO", "QEMU"}, false},
		{"zero padding", cat(a, make([]byte, 64)), []string{"CORE"}, false},
		{"short zero tail", cat(a, make([]byte, 5)), []string{"CORE"}, false},
		{"short garbage tail", cat(a, []byte{1, 2, 3}), []string{"CORE"}, true},
		{"desc overruns", a[:len(a)-4], nil, true},
		{"last desc padding missing", a[:len(a)-3], []string{"CORE"}, false},
		{"huge sizes", []byte{5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 'C', 'O', 'R', 'E', 0, 0, 0, 0}, nil, true},
		{"huge name", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			notes, err := parseNotes(tc.in, 100, le)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			var names []string
			for _, n := range notes {
				names = append(names, n.Name)
			}
			if len(names) != len(tc.want) {
				t.Fatalf("names = %q, want %q", names, tc.want)
			}
			for i := range names {
				if names[i] != tc.want[i] {
					t.Fatalf("names = %q, want %q", names, tc.want)
				}
			}
		})
	}
	notes, _ := parseNotes(cat(a, b), 100, le)
	if notes[0].Offset != 100 || notes[1].Offset != 100+int64(len(a)) {
		t.Errorf("offsets %d %d", notes[0].Offset, notes[1].Offset)
	}
	if !bytes.Equal(notes[0].Desc, []byte{1, 2, 3, 4, 5}) || notes[0].Type != NT_PRSTATUS {
		t.Errorf("note 0 = %+v", notes[0])
	}
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func TestCPUStates(t *testing.T) {
	regs := make([]uint64, 34)
	for i := range regs {
		regs[i] = 0x1000 + uint64(i)
	}
	cases := []struct {
		arch           Arch
		bo             binary.ByteOrder
		pc, sp, fp, lr uint64
		nregs          int
	}{
		{ArchX86_64, binary.LittleEndian, 0x1010, 0x1013, 0x1004, 0, 27},
		{ArchARM64, binary.LittleEndian, 0x1020, 0x101f, 0x101d, 0x101e, 34},
		{ArchARM, binary.LittleEndian, 0x100f, 0x100d, 0x100b, 0x100e, 18},
		{ArchARM64, binary.BigEndian, 0x1020, 0x101f, 0x101d, 0x101e, 34},
	}
	for _, c := range cases {
		var notes []Note
		for cpu := 0; cpu < 3; cpu++ {
			notes = append(notes, Note{Name: "CORE", Type: NT_PRSTATUS, Desc: makePrstatus(c.arch, c.bo, cpu+1, regs)})
			notes = append(notes, Note{Name: "CORE", Type: NT_PRFPREG, Desc: make([]byte, 512)})
		}
		notes = append(notes, Note{Name: "QEMU", Type: 0, Desc: make([]byte, 400)})
		if got := archFromPrstatus(notes); got != c.arch {
			t.Errorf("archFromPrstatus = %q, want %q", got, c.arch)
		}
		for _, arch := range []Arch{c.arch, ArchUnknown} {
			cpus := cpuStates(notes, arch, c.bo)
			if len(cpus) != 3 {
				t.Fatalf("%s: %d cpus", c.arch, len(cpus))
			}
			for i, s := range cpus {
				if s.CPU != i || s.PID != i+1 || len(s.Regs) != c.nregs || s.PC != c.pc || s.SP != c.sp || s.FP != c.fp || s.LR != c.lr {
					t.Errorf("%s/%s: cpu %d = %+v", c.arch, arch, i, s)
				}
			}
		}
	}
	// A prstatus of unknown size still counts as a CPU.
	cpus := cpuStates([]Note{{Name: "CORE", Type: NT_PRSTATUS, Desc: make([]byte, 40)}}, ArchUnknown, binary.LittleEndian)
	if len(cpus) != 1 || cpus[0].Regs != nil {
		t.Errorf("unknown layout: %+v", cpus)
	}
}
