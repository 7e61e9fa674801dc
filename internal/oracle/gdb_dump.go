package oracle

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// PagingDump is QEMU's `dump-guest-memory -p` ELF dump of each fixture:
// virtual addresses and one NT_PRSTATUS per CPU, which gdb reads as a core
// file with one thread per CPU.
const PagingDump = "vmcore.paging.elf"

// GDBDump runs gdb-multiarch on the fixture's vmlinux and paging dump with
// each command, cached like GDB (<fixture>/oracle/gdb-dump/). The symbol
// file is loaded at the KASLR offset the kernel itself wrote into the
// dump's VMCOREINFO note (KERNELOFFSET=), read here with debug/elf.
func GDBDump(t testing.TB, f *fixture.Fixture, commands []string) ([]string, error) {
	t.Helper()
	RequireGDB(t)
	dumpPath := f.Path(PagingDump)
	st, err := os.Stat(dumpPath)
	if err != nil {
		return nil, fmt.Errorf("oracle: %s: %w", dumpPath, err)
	}
	off, err := kernelOffset(dumpPath)
	if err != nil {
		return nil, err
	}
	return runGDB(t, gdbRun{dir: filepath.Join(f.Dir, "oracle", "gdb-dump"), target: dumpPath,
		label: filepath.Base(f.Dir) + " " + PagingDump,
		id:    fmt.Sprintf("%s|%d|%d", f.BuildID, st.Size(), st.ModTime().UnixNano()), idTail: fmt.Sprintf("|%#x", off),
		head: []string{"-ex", "set pagination off", "-ex", fmt.Sprintf("symbol-file %s -o %#x", f.Vmlinux(), off),
			"-ex", "core-file " + dumpPath}}, commands)
}

var kernelOffsetRE = regexp.MustCompile(`KERNELOFFSET=([0-9a-f]+)`)

// kernelOffset reads KERNELOFFSET from the dump's notes; 0 when the kernel
// wrote none (no KASLR, or no VMCOREINFO).
func kernelOffset(path string) (uint64, error) {
	ef, err := elf.Open(path)
	if err != nil {
		return 0, fmt.Errorf("oracle: %s: %w", path, err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 1<<24 {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return 0, fmt.Errorf("oracle: %s notes: %w", path, err)
		}
		if m := kernelOffsetRE.FindSubmatch(b); m != nil {
			return strconv.ParseUint(string(m[1]), 16, 64)
		}
	}
	return 0, nil
}
