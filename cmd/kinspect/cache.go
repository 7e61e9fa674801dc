package main

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kinspect/kinspect/dwarfx"
)

// indexCacheOptions configures the persistent vmlinux index cache: files in
// $XDG_CACHE_HOME/kinspect/index (default ~/.cache/kinspect/index), off with
// --no-cache or KINSPECT_CACHE=off. Files written by another build of
// kinspect are not used (the key includes this executable's Go build ID).
func indexCacheOptions(noCache bool, stderr io.Writer) dwarfx.CacheOptions {
	if noCache || strings.EqualFold(os.Getenv("KINSPECT_CACHE"), "off") {
		return dwarfx.CacheOptions{}
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return dwarfx.CacheOptions{}
	}
	return dwarfx.CacheOptions{
		Dir:     filepath.Join(base, "kinspect", "index"),
		Version: version + "+" + exeBuildID(),
		Warn:    func(msg string) { fmt.Fprintf(stderr, "kinspect: warning: %s\n", msg) },
	}
}

// exeBuildID is the Go build ID of the running executable ("" if it cannot
// be read): it changes whenever kinspect's code does, so a cache written by
// an older build is never trusted.
func exeBuildID() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := elf.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := f.Section(".note.go.buildid")
	if s == nil {
		return ""
	}
	b, err := s.Data()
	if err != nil || len(b) <= 16 {
		return ""
	}
	// Elf note: namesz, descsz, type, "Go\0\0", then the ID.
	return strings.TrimRight(string(b[16:]), "\x00")
}
