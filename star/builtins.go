package star

import (
	"debug/dwarf"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkjson"

	"github.com/kinspect/kinspect/dwarfx"
	"github.com/kinspect/kinspect/kstructs"
)

// Builtin is one of kinspect's Starlark built-ins. The README's table of
// built-ins is generated from this list (BuiltinReference).
type Builtin struct {
	Name string
	Sig  string // how it is called
	Doc  string // one sentence
	fn   func(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error)
}

// Builtins lists kinspect's Starlark built-ins (Starlark's own, such as len
// and sorted, are in its spec).
func Builtins() []Builtin { return builtinTable }

var builtinTable []Builtin

func init() {
	builtinTable = []Builtin{
		{"kernel", "kernel.NAME, kernel[\"NAME\"]", "the kernel's global variables (any expression `p` accepts in kernel[\"...\"]); per-cpu ones go through per_cpu", nil},
		{"object", "object(type, addr)", "the object of C type `type` (\"struct rq\", \"struct rq *\") at address addr", biObject},
		{"member", "member(obj, path)", "obj's member path (\"se.vruntime\", \"a->b[2]\") as an object, never converted to a number: for address_of, typeof, str", biMember},
		{"deref", "deref(ptr)", "the object a pointer points to (attribute access dereferences on its own)", biDeref},
		{"address_of", "address_of(obj)", "the address of an object in memory, as an int", biAddressOf},
		{"sizeof", "sizeof(obj_or_type)", "the size in bytes of an object or of a C type named by a string", biSizeof},
		{"typeof", "typeof(obj)", "the C type of an object, as a string (\"struct task_struct *\")", biTypeof},
		{"cast", "cast(obj, type)", "obj converted to a C type as in C (a pointer or integer to another pointer type, an object in memory reinterpreted)", biCast},
		{"container_of", "container_of(ptr, type, member)", "the struct of `type` holding, at member, what ptr (an object or an address) points to", biContainerOf},
		{"per_cpu", "per_cpu(obj, cpu)", "cpu's copy of a per-cpu variable (per_cpu(kernel[\"runqueues\"], 2))", biPerCPU},
		{"int", "int(x)", "Starlark's int, also for objects: a pointer's value, a scalar's value", biInt},
		{"str", "str(obj)", "Starlark's str: a char array's text, any other object printed as crash's `p` prints it", nil},
		{"t32", "t32(obj, *flags)", "obj printed as Trace32's Var.View (`v.v`), with v.v's format flags (\"%t\", \"%h\", \"%e2\", ...)", biT32},
		{"cstr", "cstr(x, max=4096)", "the NUL-terminated string a char pointer (or address, or char array) holds", biCstr},
		{"try_read", "try_read(fn, *args)", "fn(*args), or, if it fails reading the dump, a read_fault value (false; .address, .message) instead of stopping the script", biTryRead},
		{"for_each_task", "for_each_task()", "every task (struct task_struct objects), in ps's order: the task list kinspect reads for ps", biForEachTask},
		{"for_each_thread", "for_each_thread(task)", "the threads of task's thread group, the leader first", biForEachThread},
		{"list_for_each_entry", "list_for_each_entry(head, type, member)", "the entries of the list anchored at list_head head (object or address): the walk of the `list -H` command, cycles detected", biListForEachEntry},
		{"tasks_on_runqueue", "tasks_on_runqueue(cpu)", "the tasks queued on cpu's runqueue as `runq` lists them (RT, then CFS in vruntime order, then deadline); the running task is rq.curr", biTasksOnRunqueue},
		{"find_task", "find_task(pid)", "the task with that pid (pid 0: CPU 0's idle task)", biFindTask},
		{"task_state", "task_state(task)", "crash's state code of a task (\"RU\", \"IN\", \"UN\", \"ID\", ...), as ps shows it", biTaskState},
		{"cpus", "cpus()", "the possible CPU numbers (the CPUs runq shows)", biCPUs},
		{"hex", "hex(n)", "n as a hexadecimal string (\"0xffff8880...\")", biHex},
		{"run", "run(line)", "runs a REPL command with --json and returns its JSON document as Starlark dicts and lists", biRun},
		{"write_file", "write_file(path, text)", "writes text to a file; only when kinspect runs with --allow-write", biWriteFile},
		{"json", "json.encode(x), json.decode(s)", "Starlark's JSON module", nil},
	}
}

func (st *state) builtins() starlark.StringDict {
	env := starlark.StringDict{
		"kernel": kernelValue{st},
		"json":   starlarkjson.Module,
	}
	for _, b := range builtinTable {
		if b.fn == nil {
			continue
		}
		fn := b.fn
		env[b.Name] = starlark.NewBuiltin(b.Name, func(th *starlark.Thread, bi *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			if err := st.ctx.Err(); err != nil {
				return nil, err
			}
			return fn(st, th, args, kw)
		})
	}
	return env
}

// ---- argument helpers ----

func (st *state) objArg(fn string, v starlark.Value) (*Object, error) {
	o, ok := v.(*Object)
	if !ok {
		return nil, fmt.Errorf("%s: want a kernel object, got %s", fn, v.Type())
	}
	return o, nil
}

// addrArg is an address: an int, a pointer object's value, or an object's address.
func (st *state) addrArg(fn string, v starlark.Value) (uint64, error) {
	switch v := v.(type) {
	case starlark.Int:
		if u, ok := v.Uint64(); ok {
			return u, nil
		}
		if i, ok := v.Int64(); ok {
			return uint64(i), nil
		}
		return 0, fmt.Errorf("%s: %v is not an address", fn, v)
	case *Object:
		if p, err := v.pointer(); err == nil {
			return p, nil
		}
		if a, ok := v.v.Addr(); ok {
			return a, nil
		}
		return 0, fmt.Errorf("%s: %s has no address", fn, v.desc())
	}
	return 0, fmt.Errorf("%s: want an address or a kernel object, got %s", fn, v.Type())
}

func (st *state) typeArg(fn, name string) (dwarf.Type, error) {
	t, err := st.k().Image.Type(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return t, nil
}

func (st *state) task(fn string, v starlark.Value) (*kstructs.Task, error) {
	addr, err := st.addrArg(fn, v)
	if err != nil {
		return nil, err
	}
	t, err := st.k().TaskByAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return t, nil
}

func (st *state) taskObject(t *kstructs.Task) (*Object, error) {
	tt, err := st.k().Image.Type("struct task_struct")
	if err != nil {
		return nil, err
	}
	return st.object(st.k().Image.NewValueAt(tt, t.Addr)), nil
}

func (st *state) taskList(ts []*kstructs.Task) (starlark.Value, error) {
	out := make([]starlark.Value, 0, len(ts))
	for _, t := range ts {
		o, err := st.taskObject(t)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return starlark.NewList(out), nil
}

// ---- built-ins ----

func biObject(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var typ string
	var addr starlark.Value
	if err := starlark.UnpackArgs("object", args, kw, "type", &typ, "addr", &addr); err != nil {
		return nil, err
	}
	t, err := st.typeArg("object", typ)
	if err != nil {
		return nil, err
	}
	a, err := st.addrArg("object", addr)
	if err != nil {
		return nil, err
	}
	return st.object(st.k().Image.NewValueAt(t, a)), nil
}

func biMember(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var ov starlark.Value
	var path string
	if err := starlark.UnpackArgs("member", args, kw, "obj", &ov, "path", &path); err != nil {
		return nil, err
	}
	o, err := st.objArg("member", ov)
	if err != nil {
		return nil, err
	}
	v, err := o.v.Path(path) // per-cpu stays per-cpu: per_cpu(member(v, "m"), cpu)
	if err != nil {
		return nil, readFault(err)
	}
	return st.object(v), nil
}

func biDeref(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var ov starlark.Value
	if err := starlark.UnpackPositionalArgs("deref", args, kw, 1, &ov); err != nil {
		return nil, err
	}
	o, err := st.objArg("deref", ov)
	if err != nil {
		return nil, err
	}
	v, err := o.v.Deref()
	if err != nil {
		return nil, readFault(err)
	}
	return st.wrap(v)
}

func biAddressOf(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var ov starlark.Value
	if err := starlark.UnpackPositionalArgs("address_of", args, kw, 1, &ov); err != nil {
		return nil, err
	}
	o, err := st.objArg("address_of", ov)
	if err != nil {
		return nil, err
	}
	a, ok := o.v.Addr()
	if !ok {
		return nil, fmt.Errorf("address_of: %s is not in memory", o.desc())
	}
	return starlark.MakeUint64(a), nil
}

func biSizeof(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value
	if err := starlark.UnpackPositionalArgs("sizeof", args, kw, 1, &x); err != nil {
		return nil, err
	}
	var t dwarf.Type
	switch x := x.(type) {
	case starlark.String:
		var err error
		if t, err = st.typeArg("sizeof", string(x)); err != nil {
			return nil, err
		}
	case *Object:
		t = x.v.Type()
	default:
		return nil, fmt.Errorf("sizeof: want a kernel object or a type name, got %s", x.Type())
	}
	n, err := st.k().Image.Sizeof(t)
	if err != nil {
		return nil, fmt.Errorf("sizeof: %w", err)
	}
	return starlark.MakeInt64(n), nil
}

func biTypeof(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var ov starlark.Value
	if err := starlark.UnpackPositionalArgs("typeof", args, kw, 1, &ov); err != nil {
		return nil, err
	}
	o, err := st.objArg("typeof", ov)
	if err != nil {
		return nil, err
	}
	return starlark.String(dwarfx.TypeString(o.v.Type())), nil
}

func biCast(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value
	var typ string
	if err := starlark.UnpackArgs("cast", args, kw, "obj", &x, "type", &typ); err != nil {
		return nil, err
	}
	t, err := st.typeArg("cast", typ)
	if err != nil {
		return nil, err
	}
	var v dwarfx.Value
	switch x := x.(type) {
	case starlark.Int:
		a, err := st.addrArg("cast", x)
		if err != nil {
			return nil, err
		}
		if _, ok := dwarfx.Strip(t).(*dwarf.PtrType); !ok {
			return nil, fmt.Errorf("cast: an int casts to a pointer type; use object(type, addr) for an object at an address")
		}
		v = st.k().Image.NewConst(t, a)
	case *Object:
		if v, err = x.v.Cast(t); err != nil {
			return nil, readFault(err)
		}
	default:
		return nil, fmt.Errorf("cast: want a kernel object or an int, got %s", x.Type())
	}
	return st.wrap(v)
}

func biContainerOf(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var ptr starlark.Value
	var typ, member string
	if err := starlark.UnpackArgs("container_of", args, kw, "ptr", &ptr, "type", &typ, "member", &member); err != nil {
		return nil, err
	}
	a, err := st.addrArg("container_of", ptr)
	if err != nil {
		return nil, err
	}
	v, err := st.k().Image.ContainerOf(a, typ, member)
	if err != nil {
		return nil, fmt.Errorf("container_of: %w", err)
	}
	return st.object(v), nil
}

func biPerCPU(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var ov starlark.Value
	var cpu int
	if err := starlark.UnpackPositionalArgs("per_cpu", args, kw, 2, &ov, &cpu); err != nil {
		return nil, err
	}
	o, err := st.objArg("per_cpu", ov)
	if err != nil {
		return nil, err
	}
	if !o.v.IsPerCPU() {
		return nil, fmt.Errorf("per_cpu: %s is not a per-cpu variable", o.desc())
	}
	v, err := st.k().PerCPU(o.v, cpu)
	if err != nil {
		return nil, fmt.Errorf("per_cpu: %w", err)
	}
	if n := o.v.Name(); n != "" {
		v = v.WithName(fmt.Sprintf("per_cpu(%s, %d)", n, cpu))
	}
	return st.wrap(v)
}

func biInt(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	if len(args) == 1 && len(kw) == 0 {
		if o, ok := args[0].(*Object); ok {
			if err := o.errPerCPU(); err != nil {
				return nil, err
			}
			if p, err := o.pointer(); err == nil {
				return starlark.MakeUint64(p), nil
			}
			switch dwarfx.Strip(o.v.Type()).(type) {
			case *dwarf.StructType, *dwarf.ArrayType:
				return nil, fmt.Errorf("int: %s is a %s: use address_of for its address", o.desc(), dwarfx.TypeString(o.v.Type()))
			}
			x, err := o.v.Uint(st.k().Memory())
			if err != nil {
				return nil, readFault(err)
			}
			return starlark.MakeUint64(x), nil
		}
	}
	return starlark.Call(th, starlark.Universe["int"], args, kw)
}

func biT32(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	if len(args) < 1 || len(kw) > 0 {
		return nil, fmt.Errorf("t32: want t32(obj, *flags)")
	}
	o, err := st.objArg("t32", args[0])
	if err != nil {
		return nil, err
	}
	var flags []string
	for _, a := range args[1:] {
		s, ok := starlark.AsString(a)
		if !ok {
			return nil, fmt.Errorf("t32: flags are strings such as \"%%t\", got %s", a.Type())
		}
		flags = append(flags, s)
	}
	label := o.v.Name()
	if label == "" {
		if a, ok := o.v.Addr(); ok {
			label = fmt.Sprintf("*(%s *)0x%X", dwarfx.TypeString(o.v.Type()), a)
		}
	}
	s, err := st.sess.FormatT32(label, o.v, flags...)
	if err != nil {
		return nil, readFault(err)
	}
	return starlark.String(s), nil
}

func biCstr(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value
	max := 4096
	if err := starlark.UnpackArgs("cstr", args, kw, "x", &x, "max?", &max); err != nil {
		return nil, err
	}
	if o, ok := x.(*Object); ok {
		if s, ok := o.cstring(); ok {
			return starlark.String(s), nil
		}
	}
	a, err := st.addrArg("cstr", x)
	if err != nil {
		return nil, err
	}
	s, err := dwarfx.ReadCString(st.k().Memory(), a, max)
	if err != nil {
		return nil, readFault(err)
	}
	return starlark.String(s), nil
}

// faultValue is try_read's result for a read fault: false, with the address.
type faultValue struct{ f *ReadFault }

func (f faultValue) String() string        { return "read_fault(" + f.f.Error() + ")" }
func (f faultValue) Type() string          { return "read_fault" }
func (f faultValue) Freeze()               {}
func (f faultValue) Truth() starlark.Bool  { return false }
func (f faultValue) Hash() (uint32, error) { return uint32(f.f.Addr), nil }
func (f faultValue) AttrNames() []string   { return []string{"address", "message"} }
func (f faultValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "address":
		return starlark.MakeUint64(f.f.Addr), nil
	case "message":
		return starlark.String(f.f.Error()), nil
	}
	return nil, nil
}

func biTryRead(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("try_read: want try_read(fn, *args)")
	}
	fn, ok := args[0].(starlark.Callable)
	if !ok {
		return nil, fmt.Errorf("try_read: %s is not callable", args[0].Type())
	}
	v, err := starlark.Call(th, fn, args[1:], kw)
	var rf *ReadFault
	if err != nil && errors.As(err, &rf) {
		return faultValue{rf}, nil
	}
	return v, err
}

func biForEachTask(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs("for_each_task", args, kw, 0); err != nil {
		return nil, err
	}
	ts, err := st.k().Tasks()
	if err != nil {
		return nil, err
	}
	return st.taskList(ts)
}

func biForEachThread(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value
	if err := starlark.UnpackPositionalArgs("for_each_thread", args, kw, 1, &x); err != nil {
		return nil, err
	}
	t, err := st.task("for_each_thread", x)
	if err != nil {
		return nil, err
	}
	ts, err := st.k().ThreadsOf(t)
	if err != nil {
		return nil, err
	}
	return st.taskList(ts)
}

func biListForEachEntry(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var head starlark.Value
	var typ, member string
	if err := starlark.UnpackArgs("list_for_each_entry", args, kw, "head", &head, "type", &typ, "member", &member); err != nil {
		return nil, err
	}
	var a uint64
	var err error
	if o, ok := head.(*Object); ok {
		// A list_head object is the anchor itself; a pointer points to it.
		if _, isPtr := dwarfx.Strip(o.v.Type()).(*dwarf.PtrType); isPtr {
			a, err = o.pointer()
		} else if addr, ok := o.v.Addr(); ok {
			a = addr
		} else {
			err = fmt.Errorf("list_for_each_entry: %s is not in memory", o.desc())
		}
	} else {
		a, err = st.addrArg("list_for_each_entry", head)
	}
	if err != nil {
		return nil, err
	}
	t, err := st.typeArg("list_for_each_entry", typ)
	if err != nil {
		return nil, err
	}
	off, _, err := st.k().Image.OffsetOf(t, member)
	if err != nil {
		return nil, fmt.Errorf("list_for_each_entry: %w", err)
	}
	nodes, werr := kstructs.WalkList(st.k(), a, kstructs.ListOptions{Head: true})
	if werr != nil {
		return nil, fmt.Errorf("list_for_each_entry: %w", readFault(werr))
	}
	out := make([]starlark.Value, len(nodes))
	for i, n := range nodes {
		out[i] = st.object(st.k().Image.NewValueAt(t, n-uint64(off)))
	}
	return starlark.NewList(out), nil
}

func biTasksOnRunqueue(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var cpu int
	if err := starlark.UnpackPositionalArgs("tasks_on_runqueue", args, kw, 1, &cpu); err != nil {
		return nil, err
	}
	rq, err := st.k().RunQueue(cpu)
	if err != nil {
		return nil, fmt.Errorf("tasks_on_runqueue: %w", err)
	}
	tt, err := st.k().Image.Type("struct task_struct")
	if err != nil {
		return nil, err
	}
	var out []starlark.Value
	for _, q := range append(append(append([]kstructs.QueuedTask(nil), rq.RT...), rq.CFS...), rq.DL...) {
		out = append(out, st.object(st.k().Image.NewValueAt(tt, q.Addr)))
	}
	return starlark.NewList(out), nil
}

func biFindTask(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var pid int
	if err := starlark.UnpackPositionalArgs("find_task", args, kw, 1, &pid); err != nil {
		return nil, err
	}
	t, err := st.k().TaskByPID(pid)
	if err != nil {
		return nil, fmt.Errorf("find_task: %w", err)
	}
	return st.taskObject(t)
}

func biTaskState(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value
	if err := starlark.UnpackPositionalArgs("task_state", args, kw, 1, &x); err != nil {
		return nil, err
	}
	t, err := st.task("task_state", x)
	if err != nil {
		return nil, err
	}
	return starlark.String(t.StateCode), nil
}

func biCPUs(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs("cpus", args, kw, 0); err != nil {
		return nil, err
	}
	cpus, err := st.k().PossibleCPUs()
	if err != nil {
		return nil, err
	}
	out := make([]starlark.Value, len(cpus))
	for i, c := range cpus {
		out[i] = starlark.MakeInt(c)
	}
	return starlark.NewList(out), nil
}

func biRun(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var line string
	if err := starlark.UnpackPositionalArgs("run", args, kw, 1, &line); err != nil {
		return nil, err
	}
	raw, err := st.sess.RunJSON(st.ctx, line)
	if err != nil {
		return nil, fmt.Errorf("run(%q): %w", line, err)
	}
	return starlark.Call(th, starlarkjson.Module.Members["decode"], starlark.Tuple{starlark.String(raw)}, nil)
}

func biWriteFile(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var path, text string
	if err := starlark.UnpackPositionalArgs("write_file", args, kw, 2, &path, &text); err != nil {
		return nil, err
	}
	if !st.opts.AllowWrite {
		return nil, fmt.Errorf("write_file(%q): scripts are read-only; run kinspect with --allow-write", path)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// ---- JSON of script values ----

// toJSON converts a Starlark value for --json: numbers, strings, lists,
// dicts (keys as strings); kernel objects as p --json shows them, char
// arrays as their text.
func (st *state) toJSON(v starlark.Value) any {
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return nil
	case starlark.Bool:
		return bool(v)
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return i
		}
		if u, ok := v.Uint64(); ok {
			return u
		}
		return json.Number(v.BigInt().Text(10))
	case starlark.Float:
		return float64(v)
	case starlark.String:
		return string(v)
	case *Object:
		if s, ok := v.cstring(); ok {
			return s
		}
		if p, err := v.pointer(); err == nil {
			return p
		}
		return st.sess.ValueJSON(v.v)
	case *starlark.Dict:
		m := map[string]any{}
		for _, it := range v.Items() {
			k, ok := starlark.AsString(it[0])
			if !ok {
				k = it[0].String()
			}
			m[k] = st.toJSON(it[1])
		}
		return m
	case starlark.Iterable:
		out := []any{}
		it := v.Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			out = append(out, st.toJSON(x))
		}
		return out
	}
	return v.String()
}

func biHex(st *state, th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value
	if err := starlark.UnpackPositionalArgs("hex", args, kw, 1, &x); err != nil {
		return nil, err
	}
	if o, ok := x.(*Object); ok {
		p, err := o.pointer()
		if err != nil {
			return nil, fmt.Errorf("hex: %w", err)
		}
		return starlark.String(fmt.Sprintf("%#x", p)), nil
	}
	i, ok := x.(starlark.Int)
	if !ok {
		return nil, fmt.Errorf("hex: want an int, got %s", x.Type())
	}
	b := i.BigInt()
	if b.Sign() < 0 {
		return starlark.String("-0x" + new(big.Int).Neg(b).Text(16)), nil
	}
	return starlark.String("0x" + b.Text(16)), nil
}

// BuiltinReference is the README's table of built-ins, from builtinTable.
func BuiltinReference() string {
	bs := append([]Builtin(nil), builtinTable...)
	sort.Slice(bs, func(i, j int) bool { return bs[i].Name < bs[j].Name })
	var b strings.Builder
	b.WriteString("| built-in | call | what it gives |\n|---|---|---|\n")
	for _, x := range bs {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", x.Name, strings.ReplaceAll(x.Sig, "|", `\|`), x.Doc)
	}
	return b.String()
}

// Markers around the generated table of built-ins in README.md.
const (
	BuiltinsBegin = "<!-- BEGIN STARLARK BUILTINS (generated by `make readme`; do not edit) -->"
	BuiltinsEnd   = "<!-- END STARLARK BUILTINS -->"
)

// SpliceBuiltins replaces the README's table of built-ins.
func SpliceBuiltins(readme string) (string, error) {
	i := strings.Index(readme, BuiltinsBegin)
	j := strings.Index(readme, BuiltinsEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("README lacks the markers %q … %q", BuiltinsBegin, BuiltinsEnd)
	}
	return readme[:i+len(BuiltinsBegin)] + "\n" + BuiltinReference() + readme[j:], nil
}
