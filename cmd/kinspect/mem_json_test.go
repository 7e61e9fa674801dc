package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kinspect/kinspect/internal/fixture"
	"github.com/kinspect/kinspect/repl"
)

// TestMemJSONMatchesDocumentedFields runs kmem -i, kmem -s, vm, files and mount with
// --json and checks every object at every level (caches; tasks and their
// vmas / fds; mounts; kmem -i rows) against the README's field table.
func TestMemJSONMatchesDocumentedFields(t *testing.T) {
	f := fixture.Require(t, "x86_64")
	pid := f.GT.RolePID("files")
	docs := repl.JSONFields()
	cmds := []struct {
		cmd, doc, sub, nested, nestedDoc string
	}{
		{"kmem -i", "kmem -i", "rows", "", ""},
		{"kmem -s", "kmem -s", "", "", ""},
		{fmt.Sprintf("vm %d", pid), "vm", "tasks", "vmas", "vm (vma)"},
		{fmt.Sprintf("files %d", pid), "files", "tasks", "fds", "files (fd)"},
		{"mount", "mount", "mounts", "", ""},
	}
	var line []string
	for _, c := range cmds {
		line = append(line, c.cmd)
	}
	code, out, errs := kinspectRun(t, "", f.Path("vmcore.elf"), f.Vmlinux(), "--json", "-c", strings.Join(line, "; "))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 64<<20)
	check := func(cmd, doc string, objs []map[string]any) {
		fields := docs[doc]
		if len(fields) == 0 {
			t.Fatalf("%s: no documented fields for %q", cmd, doc)
		}
		if len(objs) == 0 {
			t.Errorf("%s: no %s objects", cmd, doc)
		}
		known := map[string]bool{}
		for _, fd := range fields {
			known[fd.Name] = true
		}
		for _, o := range objs {
			for k := range o {
				if !known[k] {
					t.Errorf("%s: field %q of %s is not documented", cmd, k, doc)
				}
			}
			for _, fd := range fields {
				if _, ok := o[fd.Name]; !ok && !fd.OmitEmpty {
					t.Errorf("%s: documented field %q of %s missing", cmd, fd.Name, doc)
				}
			}
		}
	}
	objects := func(x any) []map[string]any {
		var out []map[string]any
		switch x := x.(type) {
		case map[string]any:
			out = append(out, x)
		case []any:
			for _, e := range x {
				if m, ok := e.(map[string]any); ok {
					out = append(out, m)
				}
			}
		}
		return out
	}
	for _, c := range cmds {
		if !sc.Scan() {
			t.Fatalf("%s: no JSON document", c.cmd)
		}
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", c.cmd, err)
		}
		top := objects(v)
		if c.sub != "" {
			top = objects(v.(map[string]any)[c.sub])
		}
		check(c.cmd, c.doc, top)
		if c.nested != "" {
			var inner []map[string]any
			for _, o := range top {
				inner = append(inner, objects(o[c.nested])...)
			}
			check(c.cmd, c.nestedDoc, inner)
		}
	}
}
