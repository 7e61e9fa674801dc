//go:build unix

package dump

import (
	"os"

	"golang.org/x/sys/unix"
)

// IsDevMem reports whether path is the physical memory device: /dev/mem,
// or any character device 1:1 (drivers/char/mem.c's devlist: "mem" is
// minor 1 of MEM_MAJOR), whatever its name.
func IsDevMem(path string) bool {
	if path == DevMemPath {
		return true
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*unix.Stat_t)
	if !ok {
		return false
	}
	rdev := uint64(st.Rdev)
	return unix.Major(rdev) == 1 && unix.Minor(rdev) == 1
}
