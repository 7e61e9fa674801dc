package dump

import (
	"errors"
	"testing"
)

const sampleVMCoreInfo = "OSRELEASE=6.1.0-18-amd64\n" +
	"BUILD-ID=5a1b2c\n" +
	"PAGESIZE=4096\n" +
	"SYMBOL(init_uts_ns)=ffffffff82a13b40\n" +
	"SYMBOL(swapper_pg_dir)=ffffffff8280a000\n" +
	"SIZE(page)=64\n" +
	"OFFSET(task_struct.tasks)=2264\n" +
	"LENGTH(zone.free_area)=11\n" +
	"NUMBER(NR_FREE_PAGES)=0\n" +
	"NUMBER(phys_base)=-2147483648\n" +
	"NUMBER(pgtable_l5_enabled)=0\n" +
	"NUMBER(kimage_voffset)=0xffff7fffc7e00000\n" +
	"NUMBER(PHYS_OFFSET)=0x40000000\n" +
	"NUMBER(VA_BITS)=48\n" +
	"KERNELOFFSET=2a000000\n" +
	"CRASHTIME=1700000000\n" +
	"OSRELEASE=duplicate-ignored\n" +
	"garbage line without equals\n" +
	"\x00\x00\x00"

func TestParseVMCoreInfo(t *testing.T) {
	v, err := ParseVMCoreInfo([]byte(sampleVMCoreInfo))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := v.Get("OSRELEASE"); s != "6.1.0-18-amd64" {
		t.Errorf("OSRELEASE = %q", s)
	}
	if _, ok := v.Get("nope"); ok {
		t.Error("Get(nope) found")
	}
	uints := []struct {
		key  string
		want uint64
	}{
		{"PAGESIZE", 4096},
		{"SYMBOL(swapper_pg_dir)", 0xffffffff8280a000},
		{"SIZE(page)", 64},
		{"OFFSET(task_struct.tasks)", 2264},
		{"LENGTH(zone.free_area)", 11},
		{"NUMBER(kimage_voffset)", 0xffff7fffc7e00000},
		{"NUMBER(PHYS_OFFSET)", 0x40000000},
		{"NUMBER(VA_BITS)", 48},
		{"KERNELOFFSET", 0x2a000000},
		{"CRASHTIME", 1700000000},
		{"NUMBER(phys_base)", uint64(1<<64 - 2147483648)},
	}
	for _, c := range uints {
		got, ok := v.Uint(c.key)
		if !ok || got != c.want {
			t.Errorf("Uint(%q) = %#x, %v; want %#x", c.key, got, ok, c.want)
		}
	}
	if n, ok := v.Number("phys_base"); !ok || n != -2147483648 {
		t.Errorf("Number(phys_base) = %d, %v", n, ok)
	}
	if a, ok := v.Symbol("init_uts_ns"); !ok || a != 0xffffffff82a13b40 {
		t.Errorf("Symbol(init_uts_ns) = %#x, %v", a, ok)
	}
	if o, ok := v.Offset("task_struct.tasks"); !ok || o != 2264 {
		t.Errorf("Offset = %d, %v", o, ok)
	}
	if s, ok := v.Size("page"); !ok || s != 64 {
		t.Errorf("Size(page) = %d, %v", s, ok)
	}
	if _, ok := v.Uint("BUILD-ID"); ok {
		t.Error("BUILD-ID parsed as a decimal number")
	}
	if _, ok := v.Symbol("missing"); ok {
		t.Error("Symbol(missing) found")
	}
	if len(v.Keys()) != 16 {
		t.Errorf("Keys: %d %v", len(v.Keys()), v.Keys())
	}
	if v.Raw() != sampleVMCoreInfo[:len(sampleVMCoreInfo)-3] {
		t.Error("Raw does not drop the trailing NULs")
	}
}

func TestParseVMCoreInfoErrors(t *testing.T) {
	for _, in := range []string{"", "\x00", "no equals here\n", "=value\n"} {
		if _, err := ParseVMCoreInfo([]byte(in)); !errors.Is(err, ErrNoVMCoreInfo) {
			t.Errorf("ParseVMCoreInfo(%q) = %v", in, err)
		}
	}
}

func TestParseValue(t *testing.T) {
	cases := []struct {
		key, val string
		want     uint64
		ok       bool
	}{
		{"SIZE(x)", "12", 12, true},
		{"SIZE(x)", "0x10", 16, true},
		{"SIZE(x)", "-1", 1<<64 - 1, true},
		{"SIZE(x)", "", 0, false},
		{"SIZE(x)", "-", 0, false},
		{"SIZE(x)", "--1", 0, false},
		{"SIZE(x)", "1a", 0, false},
		{"SYMBOL(x)", "1a", 0x1a, true},
		{"SYMBOL(x)", "ffffffffffffffffff", 0, false},
		{"NUMBER(x)", "-9223372036854775808", 1 << 63, true},
		{"NUMBER(x)", "-9223372036854775809", 0, false},
		{"KERNELOFFSET", "0", 0, true},
		{"NUMBER(phys_offset)", "80000000", 0x80000000, true},
	}
	for _, c := range cases {
		got, ok := parseValue(c.key, c.val)
		if got != c.want || ok != c.ok {
			t.Errorf("parseValue(%q, %q) = %#x, %v; want %#x, %v", c.key, c.val, got, ok, c.want, c.ok)
		}
	}
}
