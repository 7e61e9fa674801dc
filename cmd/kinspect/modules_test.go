package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
)

// TestModulesFlag: --modules DIR loads the test module's .ko from the
// fixture directory (mod then names it as the object file) and warns about
// the modules it found no file for (those of /proc/modules but the test
// module).
func TestModulesFlag(t *testing.T) {
	f := fixture.RequireKind(t, "x86_64", fixture.KindOops)
	code, out, errs := kinspectRun(t, "", f.Path("vmcore.elf"), f.Vmlinux(), "--json", "--modules", f.Dir, "-c", "mod")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Modules []struct {
			Name       string `json:"name"`
			ObjectFile string `json:"object_file"`
		} `json:"modules"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	gm, err := f.GT.Modules()
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Modules) != len(gm) {
		t.Fatalf("mod lists %d modules, /proc/modules %d: %s", len(doc.Modules), len(gm), out)
	}
	for _, m := range doc.Modules {
		if want := f.Path("kinspect_test.ko"); m.Name == "kinspect_test" && m.ObjectFile != want {
			t.Errorf("kinspect_test's object file %q, want %s", m.ObjectFile, want)
		}
		if m.Name != "kinspect_test" && (m.ObjectFile != "" || !strings.Contains(errs, " "+m.Name)) {
			t.Errorf("%s: object file %q; stderr should list it as having no debug information: %s", m.Name, m.ObjectFile, errs)
		}
	}
}

// TestModulesBesideVmlinux: without --modules, a module's .ko lying beside
// the vmlinux (the fixture keeps the test module's there) is loaded, and
// stderr says so; modules with no file there are not complained about.
func TestModulesBesideVmlinux(t *testing.T) {
	f := fixture.RequireKind(t, "x86_64", fixture.KindOops)
	code, out, errs := kinspectRun(t, "", f.Path("vmcore.elf"), f.Vmlinux(), "--json", "-c", "mod")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "debug information of modules kinspect_test loaded from beside the vmlinux") || strings.Contains(errs, "warning") {
		t.Errorf("stderr: %s", errs)
	}
	var doc struct {
		Modules []struct {
			Name       string `json:"name"`
			ObjectFile string `json:"object_file"`
		} `json:"modules"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	found := false
	for _, m := range doc.Modules {
		if m.Name == "kinspect_test" {
			found = m.ObjectFile == f.Path("kinspect_test.ko")
		} else if m.ObjectFile != "" {
			t.Errorf("%s: object file %q, but no .ko of it lies beside the vmlinux", m.Name, m.ObjectFile)
		}
	}
	if !found {
		t.Errorf("kinspect_test's .ko beside the vmlinux was not loaded: %s", out)
	}
}
