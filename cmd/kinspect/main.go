// Command kinspect opens a Linux kernel crash dump with its vmlinux and
// answers questions about it, interactively or from a script.
//
//	kinspect VMCORE VMLINUX                 # REPL
//	kinspect VMCORE VMLINUX -c 'ps -l; runq'
//	kinspect VMCORE VMLINUX -i cmds.txt --json
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/kstructs"
	"github.com/kinspect/kinspect/repl"
	"github.com/kinspect/kinspect/star"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses: 0 all commands succeeded, 1 a command failed, 2 usage error.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

type cliFlags struct {
	commands   string
	inputFile  string
	json       bool
	keepGoing  bool
	force      bool
	physOffset string
	kaslr      string
	arch       string
	cpuProfile string
	script     string
	allowWrite bool
	modules    string // --modules: a directory of modules' debug information
	noCache    bool
	scriptArgs []string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// exitError carries an exit status out of cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.code == exitUsage {
			fmt.Fprintf(stderr, "kinspect: %v\n", ee.err)
		}
		return ee.code
	}
	// cobra's own errors (unknown flag, bad args) are usage errors.
	fmt.Fprintf(stderr, "kinspect: %v\n", err)
	return exitUsage
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var f cliFlags
	root := &cobra.Command{
		Use:   "kinspect [VMCORE VMLINUX | /proc/kcore [VMLINUX] | /dev/mem [VMLINUX]]",
		Short: "Linux kernel crash-dump inspector",
		Long: `kinspect opens a kernel crash dump (kdump/QEMU ELF vmcore, kdump-compressed
or flattened file, or raw RAM images as FILE@PHYSADDR[,FILE@PHYSADDR]) with the
kernel's vmlinux (with DWARF), in either order, and answers questions through
the kernel's own types: sys, ps, task, runq, p, struct, v.v, log, bt, ...

With no dump (or /proc/kcore) it reads the running kernel, as root, with the
vmlinux given or found where Debian puts it (/usr/lib/debug/boot/vmlinux-RELEASE).
Where the kernel has no /proc/kcore (32-bit ARM) it reads /dev/mem, System RAM
only (/proc/iomem), if the kernel allows it (no CONFIG_STRICT_DEVMEM).

Without -c or -i it opens an interactive session (when stdin is a terminal)
or reads commands from stdin, crash-style.`,
		Example: `  kinspect vmcore vmlinux
  sudo kinspect -c 'ps; runq'
  kinspect vmcore vmlinux -c 'sys; ps -l'
  echo ps | kinspect vmcore vmlinux --json
  kinspect vmlinux DDR0.bin@0x0,DDR1.bin@0x40000000 --phys-offset 0x0
  kinspect vmcore vmlinux --script examples/pstree.star -- 1`,
		Args: func(cmd *cobra.Command, args []string) error {
			// With --script, the words after "--" are the script's arguments.
			if d := cmd.ArgsLenAtDash(); d >= 0 {
				f.scriptArgs = args[d:]
				args = args[:d]
			}
			// No dump, or /proc/kcore or /dev/mem alone: live mode (live.go).
			return cobra.RangeArgs(0, 2)(cmd, args)
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if d := cmd.ArgsLenAtDash(); d >= 0 {
				args = args[:d]
			}
			return runSession(f, args, stdin, stdout, stderr)
		},
	}
	root.Flags().StringVarP(&f.commands, "command", "c", "", "run these ';'-separated commands and exit")
	root.Flags().StringVarP(&f.inputFile, "input", "i", "", "run commands from FILE ('-' for stdin) and exit")
	root.Flags().BoolVar(&f.json, "json", false, "print each command's result as one JSON document (JSON Lines)")
	root.Flags().BoolVar(&f.keepGoing, "keep-going", false, "in script mode, go on after a failed command (exit status is still 1)")
	root.Flags().BoolVar(&f.force, "force", false, "open even if the vmlinux does not match the dump")
	root.Flags().StringVar(&f.physOffset, "phys-offset", "", "physical address of the start of RAM (PHYS_OFFSET), overriding detection")
	root.Flags().StringVar(&f.kaslr, "kaslr", "", "KASLR offset of the kernel image, overriding detection")
	root.Flags().StringVar(&f.arch, "arch", "", "target architecture (arm, arm64, x86_64), overriding detection")
	root.Flags().StringVar(&f.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the whole run to FILE (go tool pprof)")
	root.Flags().BoolVar(&f.noCache, "no-cache", false, "neither read nor write the vmlinux index cache (also KINSPECT_CACHE=off)")
	root.Flags().StringVar(&f.script, "script", "", "run the Starlark script FILE (its main(args), args after --) and exit")
	root.Flags().BoolVar(&f.allowWrite, "allow-write", false, "let Starlark scripts write files (write_file)")
	root.Flags().StringVar(&f.modules, "modules", "", "load the loaded modules' debug information (NAME.ko) found under DIR (as mod -S DIR); default: the .ko files beside the vmlinux")

	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "print kinspect's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintf(stdout, "kinspect %s\n", version)
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "index VMLINUX",
		Short: "index VMLINUX into the index cache and exit (a cold run that is done first starts this in the background)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runIndex(args[0], stdout, stderr)
		},
	})
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{exitUsage, err}
	})
	return root
}

func parseAddrFlag(name, s string) (*uint64, error) {
	if s == "" {
		return nil, nil
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 64)
	if err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("--%s %q: not a hex address", name, s)}
	}
	return &v, nil
}

func runSession(f cliFlags, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if f.commands != "" && f.inputFile != "" {
		return &exitError{exitUsage, errors.New("-c and -i cannot be used together")}
	}
	if f.script != "" && (f.commands != "" || f.inputFile != "") {
		return &exitError{exitUsage, errors.New("--script cannot be used with -c or -i")}
	}
	if len(f.scriptArgs) > 0 && f.script == "" {
		return &exitError{exitUsage, errors.New("arguments after -- are for --script")}
	}
	opts := kstructs.Options{Force: f.force}
	var err error
	if opts.PhysOffset, err = parseAddrFlag("phys-offset", f.physOffset); err != nil {
		return err
	}
	if opts.KASLR, err = parseAddrFlag("kaslr", f.kaslr); err != nil {
		return err
	}
	if f.arch != "" {
		if dump.Arch(f.arch).Spec() == nil {
			return &exitError{exitUsage, fmt.Errorf("--arch %q: want arm, arm64 or x86_64", f.arch)}
		}
		opts.Arch = dump.Arch(f.arch)
	}

	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return &exitError{exitUsage, err}
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return &exitError{exitUsage, err}
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	interactive := f.commands == "" && f.inputFile == "" && f.script == "" && isTerminal(stdin) && isTerminal(stdout)
	stop := startProgress(stderr, isTerminal(stderr) && interactive)
	opts.Progress = stop.set
	opts.IndexCache = handOffOptions(indexCacheOptions(f.noCache, stderr))
	k, err := openKernel(liveFiles{}, f, args, opts, stderr)
	stop.done()
	if err != nil {
		return err
	}
	defer k.Close()
	for _, w := range k.Warnings {
		fmt.Fprintf(stderr, "kinspect: warning: %s\n", w)
	}
	loadModuleDebug(k, f.modules, stderr)

	s := repl.NewSession(k, stdout, stderr)
	s.JSON = f.json
	star.Configure(s, star.Options{AllowWrite: f.allowWrite})
	ctx := context.Background()
	switch {
	case f.script != "":
		err = s.Exec(ctx, "source --main "+shellQuote(f.script)+" "+quoteArgs(f.scriptArgs), false)
	case f.commands != "":
		err = s.Exec(ctx, f.commands, f.keepGoing)
	case f.inputFile == "-":
		err = s.RunScript(ctx, stdin, f.keepGoing)
	case f.inputFile != "":
		fh, ferr := os.Open(f.inputFile)
		if ferr != nil {
			return &exitError{exitUsage, ferr}
		}
		defer fh.Close()
		err = s.RunScript(ctx, fh, f.keepGoing)
	case interactive:
		_ = s.StartupSummary(ctx)
		fmt.Fprintln(stdout)
		err = s.RunInteractive()
	default:
		err = s.RunScript(ctx, stdin, f.keepGoing)
	}
	if err != nil {
		var ue *repl.UsageError
		if errors.As(err, &ue) {
			return &exitError{exitUsage, nil}
		}
		return &exitError{exitFailed, nil}
	}
	return nil
}

// shellQuote quotes a word for the REPL's tokenizer.
func shellQuote(w string) string {
	return "\"" + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w) + "\""
}

func quoteArgs(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

func isTerminal(x any) bool {
	f, ok := x.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progress prints "kinspect: <stage>..." on stderr once opening has taken
// more than half a second, and only on a terminal.
type progress struct {
	w       io.Writer
	enabled bool
	stage   atomic.Value
	stopped chan struct{}
	shown   atomic.Bool
}

func startProgress(w io.Writer, enabled bool) *progress {
	p := &progress{w: w, enabled: enabled, stopped: make(chan struct{})}
	p.stage.Store("opening")
	if enabled {
		go p.loop()
	}
	return p
}

func (p *progress) set(stage string) { p.stage.Store(stage) }

func (p *progress) loop() {
	t := time.NewTimer(500 * time.Millisecond)
	defer t.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	select {
	case <-p.stopped:
		return
	case <-t.C:
	}
	spin := `|/-\`
	for i := 0; ; i++ {
		p.shown.Store(true)
		fmt.Fprintf(p.w, "\r\033[Kkinspect: %s %c", p.stage.Load(), spin[i%4])
		select {
		case <-p.stopped:
			return
		case <-tick.C:
		}
	}
}

func (p *progress) done() {
	close(p.stopped)
	if p.enabled && p.shown.Load() {
		time.Sleep(10 * time.Millisecond)
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// loadModuleDebug loads the modules' debug information: from --modules DIR
// (warning about the modules with none), else whatever .ko files lie
// beside the vmlinux (saying which were loaded).
func loadModuleDebug(k *kstructs.Kernel, dir string, stderr io.Writer) {
	var errs []error
	if dir != "" {
		var missing []string
		_, missing, errs = k.LoadModuleDebugDir(dir)
		if len(missing) > 0 {
			fmt.Fprintf(stderr, "kinspect: warning: no debug information under %s for modules: %s\n", dir, strings.Join(missing, " "))
		}
	} else {
		var loaded []string
		loaded, errs = k.LoadModuleDebugBeside()
		if len(loaded) > 0 {
			fmt.Fprintf(stderr, "kinspect: debug information of modules %s loaded from beside the vmlinux\n", strings.Join(loaded, " "))
		}
	}
	for _, e := range errs {
		fmt.Fprintf(stderr, "kinspect: warning: module debug information: %v\n", e)
	}
}

// openKernel opens the dump and vmlinux of args, or the running kernel in
// live mode (live.go) with the running system's files of live.
func openKernel(live liveFiles, f cliFlags, args []string, opts kstructs.Options, stderr io.Writer) (*kstructs.Kernel, error) {
	fail := func(err error) error {
		fmt.Fprintf(stderr, "kinspect: %v\n", err)
		return &exitError{exitFailed, nil}
	}
	src, vmlinux, isLive, err := live.liveArgs(args)
	switch {
	case err != nil:
		return nil, fail(err)
	case isLive:
		args = []string{src.path, vmlinux}
	case len(args) != 2:
		return nil, &exitError{exitUsage, fmt.Errorf("want a dump and its vmlinux (or nothing, %s or %s, for the running kernel); got %d arguments", kcorePath, dump.DevMemPath, len(args))}
	}
	var k *kstructs.Kernel
	if src.devMem {
		k, err = live.openDevMem(src.path, vmlinux, opts)
	} else {
		k, err = kstructs.Open(args[0], args[1], opts)
	}
	if err != nil {
		return nil, fail(err)
	}
	if !k.Live() {
		return k, nil
	}
	if err := live.checkBuildID(k.Image, k.Dump.VMCoreInfo()); err != nil && !f.force {
		k.Close()
		return nil, fail(err)
	} else if err != nil {
		k.Warnings = append(k.Warnings, err.Error())
	}
	if b, err := k.Banner(); err == nil {
		if err := live.checkVersion(b, src.path); err != nil {
			k.Warnings = append(k.Warnings, err.Error())
		}
	}
	return k, nil
}
