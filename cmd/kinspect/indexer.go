package main

// The background indexer. A cold run (no index cache for its vmlinux) that
// is done before its index is complete — `kinspect VMCORE VMLINUX -c 'p
// init_task.comm'` answers in ~0.1 s, indexing all of .debug_info takes
// ~0.3 s of CPU on x86_64 — does not wait to save the cache: Close hands the
// work to `kinspect index VMLINUX`, started detached and at low priority, and
// the command returns (dwarfx.CacheOptions.HandOff). git's `gc --auto`
// detaches the same way, for the same reason.
//
// One indexer per vmlinux at a time: the starting process takes an
// exclusive flock(2) on the vmlinux itself (advisory: nothing is written)
// and the indexer inherits it as fd 3 (kinspectIndexLockFD), so the lock is
// held from before the starting process exits until the cache file is in
// place. A process that finds it held starts no other indexer. Tests and
// bench/compare.sh wait for the indexer by taking the same lock
// (`flock VMLINUX true`). KINSPECT_CACHE_WAIT=1 makes a run wait for its own
// index and save it itself, as before.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kinspect/kinspect/dwarfx"
)

// indexLockEnv tells `kinspect index` that fd 3 is the vmlinux, locked by
// the process that started it.
const indexLockEnv = "KINSPECT_INDEX_LOCKED"

// indexerNice is the indexer's nice value: it runs beside the user's next
// commands, which come first.
const indexerNice = 10

// startIndexer is the cache's HandOff: it starts `kinspect index VMLINUX`
// detached (own session, stdio on /dev/null, so that no pipe of the caller's
// waits for it) holding the vmlinux's lock, unless another indexer holds it.
func startIndexer(vmlinux string) error {
	lock, err := os.Open(vmlinux)
	if err != nil {
		return err
	}
	defer lock.Close() // the indexer's inherited copy keeps the lock
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); errors.Is(err, unix.EWOULDBLOCK) {
		return nil // another kinspect is indexing it
	}
	// Where the file system has no flock (ENOLCK), indexers are not
	// deduplicated, which is only wasted work: each renames a whole file.
	abs, err := filepath.Abs(vmlinux)
	if err != nil {
		return err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	// This very executable, even if the file was replaced since it started.
	p, err := os.StartProcess("/proc/self/exe", []string{"kinspect", "index", abs}, &os.ProcAttr{
		Env:   append(os.Environ(), indexLockEnv+"=3"),
		Files: []*os.File{null, null, null, lock},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return err
	}
	return p.Release()
}

// handOffOptions adds the hand-off to the cache options unless
// KINSPECT_CACHE_WAIT asks a run to finish its own index.
func handOffOptions(o dwarfx.CacheOptions) dwarfx.CacheOptions {
	if o.Dir != "" && os.Getenv("KINSPECT_CACHE_WAIT") == "" {
		o.HandOff = startIndexer
	}
	return o
}

// runIndex is `kinspect index VMLINUX`: index the vmlinux into the cache
// (nothing to do if its cache is valid) and say where it is. Started by
// hand-off it holds the lock it inherited; run by hand it takes the lock,
// waiting for an indexer already at work (whose cache it then finds).
func runIndex(vmlinux string, stdout, stderr io.Writer) error {
	fail := func(err error) error {
		fmt.Fprintf(stderr, "kinspect: index: %v\n", err)
		return &exitError{exitFailed, nil}
	}
	opts := indexCacheOptions(false, stderr)
	if opts.Dir == "" {
		return &exitError{exitUsage, errors.New("the index cache is off (KINSPECT_CACHE=off, or no cache directory)")}
	}
	if os.Getenv(indexLockEnv) != "" {
		// Started by a hand-off, in a session and process group of its
		// own. Nice is per thread on Linux and the Go runtime has threads
		// already: PRIO_PGRP sets every thread of the group (kernel/sys.c
		// setpriority), and threads made later inherit it from these.
		_ = unix.Setpriority(unix.PRIO_PGRP, 0, indexerNice)
	} else {
		lock, err := os.Open(vmlinux)
		if err != nil {
			return fail(err)
		}
		defer lock.Close()
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil && !errors.Is(err, unix.ENOLCK) {
			return fail(fmt.Errorf("locking %s: %w", vmlinux, err))
		}
	}
	im, err := dwarfx.OpenCached(vmlinux, opts)
	if err != nil {
		return fail(err)
	}
	status := map[dwarfx.CacheStatus]string{dwarfx.CacheHit: "valid", dwarfx.CacheWritten: "written"}[im.CacheStatus()]
	path := im.CachePath()
	if err := im.Close(); err != nil {
		return fail(err)
	}
	if st, err := os.Stat(path); err == nil {
		fmt.Fprintf(stdout, "%s: %s (%d bytes)\n", path, status, st.Size())
		return nil
	}
	return fail(fmt.Errorf("the index of %s was not saved to %s", vmlinux, path))
}
