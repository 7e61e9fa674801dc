package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/repl"
)

// kinspectRun runs the CLI in-process and returns exit status, stdout, stderr.
func kinspectRun(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestScriptModeSys(t *testing.T) {
	for _, arch := range []string{"arm", "arm64", "x86_64"} {
		t.Run(arch, func(t *testing.T) {
			f := fixture.Require(t, arch)
			code, out, errs := kinspectRun(t, "", f.Path("vmcore.elf"), f.Vmlinux(), "-c", "sys")
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, errs)
			}
			for _, want := range []string{
				"     RELEASE: " + f.GT.Release + "\n",
				"        CPUS: ",
				"    DUMPFILE: " + f.Path("vmcore.elf"),
			} {
				if !strings.Contains(out, want) {
					t.Errorf("sys output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestArgumentOrderAndJSON(t *testing.T) {
	f := fixture.Require(t, "arm64")
	// vmlinux first, dump second: the contents decide.
	code, out, errs := kinspectRun(t, "", f.Vmlinux(), f.Path("vmcore.elf"), "--json", "-c", "sys; p init_task.comm")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	var docs []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line is not one JSON document: %v\n%s", err, sc.Text())
		}
		docs = append(docs, m)
	}
	if len(docs) != 2 {
		t.Fatalf("want 2 JSON documents (one per command), got %d:\n%s", len(docs), out)
	}
	if docs[0]["release"] != f.GT.Release {
		t.Errorf("sys --json release = %v, want %q", docs[0]["release"], f.GT.Release)
	}
}

func TestExitStatuses(t *testing.T) {
	f := fixture.Require(t, "x86_64")
	dumpf, vml := f.Path("vmcore.elf"), f.Vmlinux()

	// A failing command: exit 1, message on stderr naming the command, nothing after it runs.
	code, out, errs := kinspectRun(t, "", dumpf, vml, "-c", "p no_such_symbol_xyz; sys")
	if code != 1 {
		t.Errorf("failing command: exit %d, want 1", code)
	}
	if !strings.Contains(errs, "no_such_symbol_xyz") {
		t.Errorf("stderr does not name the unknown symbol: %q", errs)
	}
	if strings.Contains(out, "RELEASE") {
		t.Errorf("stop-at-first-error: sys ran after the failure")
	}

	// --keep-going runs the rest but still exits 1.
	code, out, _ = kinspectRun(t, "", dumpf, vml, "--keep-going", "-c", "p no_such_symbol_xyz; sys")
	if code != 1 || !strings.Contains(out, "RELEASE") {
		t.Errorf("--keep-going: exit %d (want 1), sys ran: %v", code, strings.Contains(out, "RELEASE"))
	}

	// JSON errors are documents too.
	code, out, _ = kinspectRun(t, "", dumpf, vml, "--json", "-c", "p no_such_symbol_xyz")
	if code != 1 {
		t.Errorf("--json failing command: exit %d, want 1", code)
	}
	var doc map[string]string
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &doc); err != nil || doc["error"] == "" || doc["command"] == "" {
		t.Errorf("JSON error document: %q (%v)", out, err)
	}

	// Usage errors: exit 2.
	for _, args := range [][]string{
		{dumpf, vml, "--no-such-flag"},
		{dumpf},
		{dumpf, vml, "-c", "no_such_command"},
		{dumpf, vml, "-c", "rd"},
	} {
		if code, _, _ := kinspectRun(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args[1:], code)
		}
	}
}

func TestInputFileAndStdin(t *testing.T) {
	f := fixture.Require(t, "arm")
	script := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(script, []byte("# comment\nsym linux_banner\n\np init_task.comm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, fromFile, errs := kinspectRun(t, "", f.Path("vmcore.elf"), f.Vmlinux(), "-i", script)
	if code != 0 {
		t.Fatalf("-i: exit %d\n%s", code, errs)
	}
	code, fromStdin, errs := kinspectRun(t, "sym linux_banner\np init_task.comm\n", f.Path("vmcore.elf"), f.Vmlinux())
	if code != 0 {
		t.Fatalf("stdin: exit %d\n%s", code, errs)
	}
	if fromFile != fromStdin {
		t.Errorf("-i and stdin differ:\n%s\n---\n%s", fromFile, fromStdin)
	}
	if !strings.Contains(fromFile, "(D) linux_banner") && !strings.Contains(fromFile, "(R) linux_banner") {
		t.Errorf("sym linux_banner: %q", fromFile)
	}
	if !strings.Contains(fromFile, `"swapper/0`) {
		t.Errorf("p init_task.comm: %q", fromFile)
	}
}

func TestMismatchedVmlinux(t *testing.T) {
	arm64 := fixture.Require(t, "arm64")
	x86 := fixture.Require(t, "x86_64")
	code, _, errs := kinspectRun(t, "", arm64.Path("vmcore.elf"), x86.Vmlinux(), "-c", "sys")
	if code != 1 {
		t.Errorf("mismatched vmlinux: exit %d, want 1", code)
	}
	if !strings.Contains(errs, "arm64") || !strings.Contains(errs, "x86_64") {
		t.Errorf("mismatch error should name both architectures: %q", errs)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := kinspectRun(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "kinspect ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// TestJSONMatchesDocumentedFields runs the documented commands with --json
// and checks each document against the README's field table: no
// undocumented field, every always-present field there.
func TestJSONMatchesDocumentedFields(t *testing.T) {
	f := fixture.Require(t, "x86_64")
	docs := repl.JSONFields()
	cmds := []struct{ cmd, doc, sub, subdoc string }{
		{"sys", "sys", "", ""},
		{"ps", "ps", "", ""},
		{"runq", "runq", "cpus", "runq"},
		{"log", "log", "", ""},
		{"bt -p", "bt", "tasks", "bt"},
		{"triage", "triage", "", ""},
		{"sym linux_banner", "sym", "symbols", "sym"},
		{"rd linux_banner 2", "rd", "", ""},
		{"mach", "mach", "", ""},
		{"dis -l schedule 3", "dis", "", ""},
		{"star len(for_each_task())", "source, star", "", ""},
		{"trace", "trace", "instances", "trace"},
	}
	var line strings.Builder
	for i, c := range cmds {
		if i > 0 {
			line.WriteString("; ")
		}
		line.WriteString(c.cmd)
	}
	code, out, errs := kinspectRun(t, "", f.Path("vmcore.elf"), f.Vmlinux(), "--json", "-c", line.String())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 64<<20)
	for _, c := range cmds {
		if !sc.Scan() {
			t.Fatalf("%s: no JSON document", c.cmd)
		}
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", c.cmd, err)
		}
		// Find the objects the table documents: the document itself, its
		// array elements, or the elements of its "sub" array.
		var objs []map[string]any
		collect := func(x any) {
			switch x := x.(type) {
			case map[string]any:
				objs = append(objs, x)
			case []any:
				for _, e := range x {
					if m, ok := e.(map[string]any); ok {
						objs = append(objs, m)
					}
				}
			}
		}
		if c.sub != "" {
			collect(v.(map[string]any)[c.sub])
		} else {
			collect(v)
		}
		if len(objs) == 0 {
			t.Errorf("%s: no objects in %s", c.cmd, sc.Text()[:min(200, len(sc.Text()))])
			continue
		}
		fields := docs[c.subdoc]
		if c.subdoc == "" {
			fields = docs[c.doc]
		}
		known := map[string]bool{}
		for _, fd := range fields {
			known[fd.Name] = true
		}
		for _, o := range objs {
			for k := range o {
				if !known[k] {
					t.Errorf("%s: field %q is not documented", c.cmd, k)
				}
			}
			for _, fd := range fields {
				if _, ok := o[fd.Name]; !ok && !fd.OmitEmpty {
					t.Errorf("%s: documented field %q missing", c.cmd, fd.Name)
				}
			}
		}
	}
}
