package repl

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/kinspect/kinspect/kstructs"
)

// whereFlag is ps's and foreach's --where: a github.com/expr-lang/expr
// condition over a task's documented ps --json fields.
var whereFlag = Flag{Long: "where", Arg: "EXPR",
	Help: "only tasks for which EXPR holds: an expr-lang condition over the task's ps --json fields " +
		"(pid, ppid, comm, state, cpu, prio, kernel_thread, stack_depth, wchan, ...), e.g. 'state == \"UN\" && !kernel_thread'"}

// whereFilter is a compiled --where expression.
type whereFilter struct {
	src   string
	prog  *vm.Program
	stack bool // the expression uses the unwinder's fields
}

// fieldMap is v's JSON fields by their json names, with their Go values
// (so uint64 counters keep their precision).
func fieldMap(v any) map[string]any {
	rv := reflect.ValueOf(v)
	m := map[string]any{}
	for _, f := range jsonFieldsOf(rv.Type()) {
		sf, _ := fieldByJSON(rv.Type(), f.Name)
		m[f.Name] = rv.FieldByIndex(sf.Index).Interface()
	}
	return m
}

func fieldByJSON(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if n == "" {
			n = f.Name
		}
		if n == name && f.IsExported() {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func compileWhere(cmd, src string) (*whereFilter, error) {
	prog, err := expr.Compile(src, expr.Env(fieldMap(psTask{})), expr.AsBool())
	if err != nil {
		return nil, &UsageError{cmd, fmt.Sprintf("--where %q: %v", src, err)}
	}
	return &whereFilter{src: src, prog: prog,
		stack: strings.Contains(src, "stack_depth") || strings.Contains(src, "wchan")}, nil
}

// filter keeps the tasks the expression holds for.
func (w *whereFilter) filter(s *Session, tasks []*kstructs.Task) ([]*kstructs.Task, error) {
	pages, err := s.K.MemPctPages()
	if err != nil {
		pages, _ = s.K.PresentPages()
	}
	var out []*kstructs.Task
	for _, t := range tasks {
		if err := s.Context().Err(); err != nil {
			return nil, err
		}
		pt := s.psTaskOf(t, pages)
		if w.stack {
			pt = s.withStack(pt, t)
		}
		ok, err := expr.Run(w.prog, fieldMap(pt))
		if err != nil {
			return nil, fmt.Errorf("--where %q on pid %d: %w", w.src, t.PID, err)
		}
		if ok.(bool) {
			out = append(out, t)
		}
	}
	return out, nil
}
