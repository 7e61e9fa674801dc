package dwarfx

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// typeSpec is a parsed C type name: a specifier plus an abstract declarator
// made of pointers and array dimensions.
type typeSpec struct {
	pos  int
	kw   string // "struct", "union", "enum" or ""
	name string // tag or typedef name, canonical base type name, or "void"
	base bool   // name is a base type (or void)
	ptrs int
	dims []int64 // outermost first; -1 for []
}

func (s typeSpec) key() string {
	var b strings.Builder
	if s.kw != "" {
		b.WriteString(s.kw)
		b.WriteByte(' ')
	} else if s.base {
		b.WriteString("base ")
	} else {
		b.WriteString("name ")
	}
	b.WriteString(s.name)
	for i := 0; i < s.ptrs; i++ {
		b.WriteByte('*')
	}
	for _, d := range s.dims {
		b.WriteString("[" + strconv.FormatInt(d, 10) + "]")
	}
	return b.String()
}

var baseWords = map[string]bool{
	"void": true, "char": true, "short": true, "int": true, "long": true, "signed": true, "unsigned": true,
	"float": true, "double": true, "_Bool": true, "__int128": true, "__signed__": true,
}

var qualWords = map[string]bool{
	"const": true, "volatile": true, "restrict": true, "__restrict": true, "__volatile__": true, "__const": true,
}

// startsTypeName reports whether the tokens at toks[i] begin a type name;
// a bare identifier is a type if isType says so.
func startsTypeName(toks []token, i int, isType func(string) bool) bool {
	t := toks[i]
	if t.kind != tIdent {
		return false
	}
	switch t.text {
	case "struct", "union", "enum":
		return true
	}
	if baseWords[t.text] || qualWords[t.text] {
		return true
	}
	return isType != nil && isType(t.text)
}

// kinds are the index kinds a type name may be: the one its keyword
// says, or any named kind.
func (spec typeSpec) kinds() []uint8 {
	switch spec.kw {
	case "struct":
		return []uint8{kStruct}
	case "union":
		return []uint8{kUnion}
	case "enum":
		return []uint8{kEnum}
	}
	return []uint8{kStruct, kUnion, kEnum, kTypedef, kBase}
}

// parseTypeName parses a type name starting at toks[i].
func parseTypeName(expr string, toks []token, i int) (typeSpec, int, error) {
	errAt := func(t token, format string, args ...any) error {
		return &ExprError{Expr: expr, Col: t.pos + 1, Msg: fmt.Sprintf(format, args...)}
	}
	spec := typeSpec{pos: toks[i].pos}
	for toks[i].kind == tIdent && qualWords[toks[i].text] {
		i++
	}
	t := toks[i]
	if t.kind != tIdent {
		return spec, i, errAt(t, "expected a type name, found %s", t)
	}
	switch {
	case t.text == "struct" || t.text == "union" || t.text == "enum":
		spec.kw = t.text
		i++
		if toks[i].kind != tIdent {
			return spec, i, errAt(toks[i], "expected a %s tag after '%s', found %s", t.text, t.text, toks[i])
		}
		spec.name = toks[i].text
		i++
	case baseWords[t.text]:
		var words []string
		for toks[i].kind == tIdent && (baseWords[toks[i].text] || qualWords[toks[i].text]) {
			if baseWords[toks[i].text] {
				words = append(words, toks[i].text)
			}
			i++
		}
		name, err := canonicalBase(words)
		if err != nil {
			return spec, i, errAt(t, "%v", err)
		}
		spec.name, spec.base = name, true
	default:
		spec.name = t.text
		i++
	}
	for toks[i].kind == tIdent && qualWords[toks[i].text] {
		i++
	}
	for toks[i].kind == tPunct && toks[i].text == "*" {
		spec.ptrs++
		i++
		for toks[i].kind == tIdent && qualWords[toks[i].text] {
			i++
		}
		if spec.ptrs > 64 {
			return spec, i, errAt(toks[i], "too many '*'")
		}
	}
	for toks[i].kind == tPunct && toks[i].text == "[" {
		i++
		n := int64(-1)
		if toks[i].kind == tNum {
			if toks[i].val > 1<<40 {
				return spec, i, errAt(toks[i], "array dimension %s too large", toks[i].text)
			}
			n = int64(toks[i].val)
			i++
		}
		if toks[i].kind != tPunct || toks[i].text != "]" {
			return spec, i, errAt(toks[i], "expected ']' in array type, found %s", toks[i])
		}
		i++
		spec.dims = append(spec.dims, n)
		if len(spec.dims) > 16 {
			return spec, i, errAt(toks[i], "too many array dimensions")
		}
	}
	return spec, i, nil
}

// canonicalBase maps C base type words to GCC's DW_AT_name spelling.
func canonicalBase(words []string) (string, error) {
	n := map[string]int{}
	for _, w := range words {
		if w == "__signed__" {
			w = "signed"
		}
		n[w]++
	}
	bad := fmt.Errorf("invalid type '%s'", strings.Join(words, " "))
	kinds := n["char"] + n["short"] + n["int"] + n["float"] + n["double"] + n["_Bool"] + n["void"] + n["__int128"]
	if n["signed"]+n["unsigned"] > 1 || kinds > 1 && !(n["int"] == 1 && (n["short"] == 1 || n["long"] > 0)) || n["long"] > 2 || n["short"] > 1 {
		return "", bad
	}
	if name, ok := baseName(n, len(words)); ok {
		return name, nil
	}
	return "", bad
}

// baseName is GCC's name of the base type whose words are counted in n
// (nwords in all); false: a combination C does not allow.
func baseName(n map[string]int, nwords int) (string, bool) {
	pick := func(unsigned, signed string) string {
		if n["unsigned"] == 1 {
			return unsigned
		}
		return signed
	}
	for _, w := range []string{"void", "_Bool", "float"} {
		if n[w] == 1 {
			return w, nwords == 1
		}
	}
	switch {
	case n["double"] == 1:
		if n["signed"]+n["unsigned"]+n["short"] > 0 || n["long"] > 1 {
			return "", false
		}
		if n["long"] == 1 {
			return "long double", true
		}
		return "double", true
	case n["__int128"] == 1:
		return pick("__int128 unsigned", "__int128"), n["short"]+n["long"] == 0
	case n["char"] == 1:
		if n["signed"] == 1 {
			return "signed char", n["short"]+n["long"] == 0
		}
		return pick("unsigned char", "char"), n["short"]+n["long"] == 0
	case n["short"] == 1:
		return pick("short unsigned int", "short int"), n["long"] == 0
	case n["long"] == 2:
		return pick("long long unsigned int", "long long int"), true
	case n["long"] == 1:
		return pick("long unsigned int", "long int"), true
	}
	return pick("unsigned int", "int"), true
}

// syntheticBase builds a base type the image's DWARF lacks.
func (im *Image) syntheticBase(name string) dwarf.Type {
	size := int64(4)
	signed := true
	switch name {
	case "void":
		return &dwarf.VoidType{}
	case "_Bool":
		return &dwarf.BoolType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 1, Name: name}}}
	case "char", "signed char":
		return &dwarf.CharType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 1, Name: name}}}
	case "unsigned char":
		return &dwarf.UcharType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 1, Name: name}}}
	case "float":
		return &dwarf.FloatType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 4, Name: name}}}
	case "double":
		return &dwarf.FloatType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 8, Name: name}}}
	case "long double":
		n := int64(16)
		if im.Machine() == 40 /* EM_ARM */ {
			n = 8
		}
		return &dwarf.FloatType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: n, Name: name}}}
	case "short int":
		size = 2
	case "short unsigned int":
		size, signed = 2, false
	case "unsigned int":
		signed = false
	case "long int":
		size = int64(im.ptr)
	case "long unsigned int":
		size, signed = int64(im.ptr), false
	case "long long int":
		size = 8
	case "long long unsigned int":
		size, signed = 8, false
	case "__int128":
		size = 16
	case "__int128 unsigned":
		size, signed = 16, false
	}
	if signed {
		return &dwarf.IntType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: size, Name: name}}}
	}
	return &dwarf.UintType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: size, Name: name}}}
}

// Type returns the type called name: "struct task_struct", "task_struct"
// (tried as struct, union, enum, then typedef), "union x", "enum x",
// "unsigned long", "u64", "struct rq *", "char [16]", "int [2][3]".
func (im *Image) Type(name string) (dwarf.Type, error) {
	toks, err := lex(name)
	if err != nil {
		return nil, err
	}
	if toks[0].kind == tEOF {
		return nil, &ExprError{Expr: name, Msg: "empty type name"}
	}
	spec, i, err := parseTypeName(name, toks, 0)
	if err != nil {
		return nil, err
	}
	if toks[i].kind != tEOF {
		return nil, &ExprError{Expr: name, Col: toks[i].pos + 1, Msg: fmt.Sprintf("unexpected %s after type name", toks[i])}
	}
	return im.resolveSpec(spec)
}

// resolveSpec turns a parsed type name into a type.
func (im *Image) resolveSpec(spec typeSpec) (dwarf.Type, error) {
	key := spec.key()
	im.typeMu.Lock()
	t, ok := im.typeByName[key]
	im.typeMu.Unlock()
	if ok {
		return t, nil
	}
	t, err := im.resolveBase(spec)
	if err != nil {
		return nil, err
	}
	for i := 0; i < spec.ptrs; i++ {
		t = im.PointerTo(t)
	}
	for i := len(spec.dims) - 1; i >= 0; i-- {
		t, err = im.ArrayOf(t, spec.dims[i])
		if err != nil {
			return nil, err
		}
	}
	im.typeMu.Lock()
	if old, ok := im.typeByName[key]; ok {
		t = old
	} else {
		im.typeByName[key] = t
	}
	im.typeMu.Unlock()
	return t, nil
}

func (im *Image) resolveBase(spec typeSpec) (dwarf.Type, error) {
	if spec.base && spec.name == "void" {
		return &dwarf.VoidType{}, nil
	}
	kinds := spec.kinds()
	if spec.base {
		kinds = []uint8{kBase}
	}
	// The kinds are tried in order: a definition of the first is the
	// answer as soon as a run of units has one (lazy.go).
	if c, ok := typeIn(im.names(defined(kinds[0], spec.name)), kinds, spec.name); ok {
		return im.typeAt(c.off)
	}
	if spec.base {
		return im.syntheticBase(spec.name), nil
	}
	if t, ok := im.extraType(spec.kw, spec.name); ok {
		return t, nil // a module's (extsyms.go)
	}
	what := spec.kw
	if what == "" {
		what = "type"
	}
	return nil, &NotFoundError{What: what, Name: spec.name}
}

// typeIn is the candidate for name of the first of kinds idx (the index,
// or a run of units settling the question: lazy.go) has.
func typeIn(idx *index, kinds []uint8, name string) (cand, bool) {
	for _, k := range kinds {
		if c, ok := idx.types[typeKey{k, name}]; ok {
			return c, true
		}
	}
	return cand{}, false
}

// isTypeName reports whether a bare identifier names a type (and not a
// variable, function or enumerator, which win in expressions).
func (im *Image) isTypeName(name string) bool {
	idx := im.index()
	if _, ok := idx.vars.get(name); ok {
		return false
	}
	if _, ok := idx.funcs.get(name); ok {
		return false
	}
	if _, ok := idx.types[typeKey{kEnumerator, name}]; ok {
		return false
	}
	for _, k := range []uint8{kTypedef, kStruct, kUnion, kEnum, kBase} {
		if _, ok := idx.types[typeKey{k, name}]; ok {
			return true
		}
	}
	return false
}

// HasType reports whether name resolves with Type, without decoding it.
func (im *Image) HasType(name string) bool {
	toks, err := lex(name)
	if err != nil || toks[0].kind == tEOF {
		return false
	}
	spec, i, err := parseTypeName(name, toks, 0)
	if err != nil || toks[i].kind != tEOF {
		return false
	}
	if spec.base {
		return true
	}
	idx := im.index()
	for _, k := range spec.kinds() {
		if c, ok := idx.types[typeKey{k, spec.name}]; ok && !c.decl {
			return true
		}
	}
	return false
}

// PointerTo returns the type "pointer to t" of the image's pointer size.
func (im *Image) PointerTo(t dwarf.Type) dwarf.Type {
	return pointerTo(t, int64(im.ptr))
}

func pointerTo(t dwarf.Type, size int64) *dwarf.PtrType {
	if size == 0 {
		size = 8
	}
	return &dwarf.PtrType{CommonType: dwarf.CommonType{ByteSize: size}, Type: t}
}

// ArrayOf returns the type "array of n t" (n = -1: unknown bound).
func (im *Image) ArrayOf(t dwarf.Type, n int64) (dwarf.Type, error) {
	return arrayOf(t, n)
}

func arrayOf(t dwarf.Type, n int64) (*dwarf.ArrayType, error) {
	es := sizeOf(t)
	if es < 0 {
		es = 0
	}
	size := int64(0)
	if n > 0 {
		if es > 0 && n > (1<<62)/es {
			return nil, fmt.Errorf("array type %s [%d] too large", TypeString(t), n)
		}
		size = n * es
	}
	return &dwarf.ArrayType{CommonType: dwarf.CommonType{ByteSize: size}, Type: t, Count: n}, nil
}

// Strip removes typedefs and qualifiers.
func Strip(t dwarf.Type) dwarf.Type {
	for i := 0; i < 64 && t != nil; i++ {
		switch x := t.(type) {
		case *dwarf.TypedefType:
			t = x.Type
		case *dwarf.QualType:
			t = x.Type
		default:
			return t
		}
	}
	return t
}

// Complete returns the full definition of t if t (after typedefs) is an
// incomplete struct or union (a declaration), as seen through pointers to
// types opaque in the unit that declared them; otherwise t itself.
func (im *Image) Complete(t dwarf.Type) dwarf.Type {
	if im == nil || im.idxDone == nil { // an Image made without an index (tests, eval)
		return t
	}
	st, ok := Strip(t).(*dwarf.StructType)
	if !ok || !st.Incomplete || st.StructName == "" {
		return t
	}
	im.typeMu.Lock()
	full, ok := im.complete[st]
	im.typeMu.Unlock()
	if ok {
		return full
	}
	kind := kStruct
	if st.Kind == "union" {
		kind = kUnion
	}
	full = t
	if c, ok := im.names(defined(kind, st.StructName)).types[typeKey{kind, st.StructName}]; ok && !c.decl {
		if ft, err := im.typeAt(c.off); err == nil {
			full = ft
		}
	}
	im.typeMu.Lock()
	im.complete[st] = full
	im.typeMu.Unlock()
	return full
}

func stripQual(t dwarf.Type) dwarf.Type {
	for i := 0; i < 64; i++ {
		q, ok := t.(*dwarf.QualType)
		if !ok {
			return t
		}
		t = q.Type
	}
	return t
}

// sizeOf is t's size in bytes, -1 if it has none (void, functions, incomplete).
func sizeOf(t dwarf.Type) int64 { return sizeOfDepth(t, 0) }

func sizeOfDepth(t dwarf.Type, depth int) int64 {
	if t == nil || depth > 32 {
		return -1
	}
	switch x := Strip(t).(type) {
	case *dwarf.VoidType, *dwarf.FuncType, *dwarf.TypedefType, *dwarf.QualType:
		// (a typedef or qualifier left by Strip is a cycle)
		return -1
	case *dwarf.StructType:
		if x.Incomplete {
			return -1
		}
		return x.ByteSize
	case *dwarf.ArrayType:
		if x.Count < 0 {
			return 0
		}
		es := sizeOfDepth(x.Type, depth+1)
		if es < 0 {
			return -1
		}
		if x.StrideBitSize > 0 {
			es = x.StrideBitSize / 8
		}
		if es > 0 && x.Count > (1<<62)/es {
			return -1
		}
		return x.Count * es
	case nil:
		return -1
	default:
		return x.Common().ByteSize
	}
}

// Sizeof is the size of t in bytes, completing opaque structs; an error
// for void, function and incomplete types.
func (im *Image) Sizeof(t dwarf.Type) (int64, error) {
	n := sizeOf(im.Complete(t))
	if n < 0 {
		return 0, fmt.Errorf("type %s has no size", TypeString(t))
	}
	return n, nil
}

// Field is a struct/union member found by name (FindMember) or member
// path (Member), with its offset from the start of the outermost struct
// searched: the one description of a member's place that every layer
// decodes with (Extract).
type Field struct {
	Name       string
	Type       dwarf.Type
	ByteOffset int64 // of the member (bit-fields: of the byte holding its first bit)
	ByteSize   int64 // sizeof the member (a bit-field's storage type); -1 if unknown
	BitSize    int64 // 0 if not a bit-field
	// BitOffset is the bit-field's offset in bits from the struct start in
	// DW_AT_data_bit_offset terms (for big-endian targets counted from the
	// most significant bit of the first byte).
	BitOffset int64
}

// FindMember looks name up among the members of struct/union t, through
// anonymous struct/union members. Opaque member types are completed.
func (im *Image) FindMember(t dwarf.Type, name string) (Field, bool) {
	return findMember(im, t, name, 0)
}

func findMember(im *Image, t dwarf.Type, name string, depth int) (Field, bool) {
	if depth > 32 {
		return Field{}, false
	}
	t = im.Complete(t)
	st, ok := Strip(t).(*dwarf.StructType)
	if !ok {
		return Field{}, false
	}
	for _, f := range st.Field {
		if f.Name == name {
			return fieldOf(f, im), true
		}
	}
	for _, f := range st.Field {
		if f.Name != "" {
			continue
		}
		if inner, ok := findMember(im, f.Type, name, depth+1); ok {
			inner.ByteOffset += f.ByteOffset
			inner.BitOffset += f.ByteOffset * 8
			return inner, true
		}
	}
	return Field{}, false
}

func fieldOf(f *dwarf.StructField, im *Image) Field {
	fd := Field{Name: f.Name, Type: f.Type, ByteOffset: f.ByteOffset, ByteSize: sizeOf(f.Type), BitSize: f.BitSize}
	if f.BitSize > 0 {
		switch {
		case f.DataBitOffset != 0 || f.BitOffset == 0 && f.ByteSize == 0:
			// DWARF 4+: offset from the start of the struct.
			fd.BitOffset = f.DataBitOffset
		default:
			// DWARF 2/3: BitOffset counts from the most significant bit of a
			// ByteSize storage unit at ByteOffset.
			unit := f.ByteSize
			if unit == 0 {
				unit = sizeOf(f.Type)
			}
			bigEndian := im != nil && im.order.String() == "BigEndian"
			if bigEndian {
				fd.BitOffset = f.ByteOffset*8 + f.BitOffset
			} else {
				fd.BitOffset = f.ByteOffset*8 + unit*8 - f.BitOffset - f.BitSize
			}
		}
		fd.ByteOffset = fd.BitOffset / 8
	}
	return fd
}

// MemberNames lists the member names of struct/union t (or of what t points
// to), anonymous members' members included, for completion.
// A nil Image may be used (no completion of opaque types).
func (im *Image) MemberNames(t dwarf.Type) []string {
	var out []string
	if p, ok := Strip(t).(*dwarf.PtrType); ok {
		t = p.Type
	}
	var walk func(t dwarf.Type, depth int)
	walk = func(t dwarf.Type, depth int) {
		if depth > 32 {
			return
		}
		st, ok := Strip(im.Complete(t)).(*dwarf.StructType)
		if !ok {
			return
		}
		for _, f := range st.Field {
			if f.Name == "" {
				walk(f.Type, depth+1)
				continue
			}
			out = append(out, f.Name)
		}
	}
	walk(t, 0)
	return out
}

// OffsetOf returns the byte offset and type of the member designated by path
// ("se.vruntime", "pids[1].node", "a.b[2]") within t. A bit-field's offset
// is that of the byte holding its first bit. A nil Image may be used (no
// completion of opaque types).
func (im *Image) OffsetOf(t dwarf.Type, path string) (int64, dwarf.Type, error) {
	f, err := im.Member(t, path)
	if err != nil {
		return 0, nil, err
	}
	return f.ByteOffset, f.Type, nil
}

// Member resolves a member path ("se.vruntime", "pids[1].node",
// "thread.cpu_context.fp") within t: the one resolver of member paths for
// every layer. The Field's offsets count from the start of t: ByteOffset
// in bytes (for a bit-field, of the byte holding its first bit), BitOffset
// in DW_AT_data_bit_offset terms for a bit-field. Members of anonymous
// structs and unions are found by their own names, as C allows; "->" may
// only start the path (through a pointer t). A nil Image may be used (no
// completion of opaque types).
func (im *Image) Member(t dwarf.Type, path string) (Field, error) {
	steps, err := parsePath(path)
	if err != nil {
		return Field{}, err
	}
	out := Field{Type: t}
	desc := TypeString(t)
	for _, st := range steps {
		if st.kind == stepIndex {
			if err := out.index(st.index, desc); err != nil {
				return Field{}, err
			}
			continue
		}
		if st.kind == stepArrow && out.ByteOffset != 0 {
			return Field{}, fmt.Errorf("offsetof %s: '->' cannot be used in a member path", path)
		}
		cur := out.Type
		if p, ok := Strip(cur).(*dwarf.PtrType); ok && st.kind == stepArrow {
			cur = p.Type
		}
		f, ok := findMember(im, cur, st.name, 0)
		if !ok {
			return Field{}, &MemberError{Type: TypeString(cur), Member: st.name}
		}
		base := out.ByteOffset
		out = f
		out.ByteOffset += base
		if f.BitSize > 0 {
			out.BitOffset += base * 8
		}
		desc += "." + st.name
	}
	return out, nil
}

// index moves f to element i of the array it is; desc names f in errors.
func (f *Field) index(i int64, desc string) error {
	at, ok := Strip(f.Type).(*dwarf.ArrayType)
	if !ok {
		return fmt.Errorf("%s is not an array", desc)
	}
	es := sizeOf(at.Type)
	if es < 0 {
		return fmt.Errorf("%s: element type has no size", desc)
	}
	f.ByteOffset += i * es
	f.Type, f.ByteSize, f.BitSize, f.BitOffset = at.Type, es, 0, 0
	return nil
}

// Found reports whether f describes a member (the zero Field is "absent":
// optional members that a kernel lacks).
func (f Field) Found() bool { return f.ByteSize > 0 || f.BitSize > 0 }

// Width is the member's width in bits.
func (f Field) Width() int64 {
	if f.BitSize > 0 {
		return f.BitSize
	}
	return f.ByteSize * 8
}

// Extract reads the member out of b, the bytes of the outermost struct it
// was resolved in: a bit-field of up to 64 bits (numbered in the target's
// order, DW_AT_data_bit_offset terms) or an integer of 1, 2, 4 or 8 bytes.
// false: the member is absent, does not fit in b, or has another size.
func (f Field) Extract(b []byte, bo binary.ByteOrder) (uint64, bool) {
	if f.BitSize > 0 {
		return f.extractBits(b, bo)
	}
	if !f.Found() || f.ByteOffset < 0 || f.ByteOffset+f.ByteSize > int64(len(b)) {
		return 0, false
	}
	p := b[f.ByteOffset:]
	switch f.ByteSize {
	case 1:
		return uint64(p[0]), true
	case 2:
		return uint64(bo.Uint16(p)), true
	case 4:
		return uint64(bo.Uint32(p)), true
	case 8:
		return bo.Uint64(p), true
	}
	return 0, false
}

func (f Field) extractBits(b []byte, bo binary.ByteOrder) (uint64, bool) {
	first := f.BitOffset / 8
	last := (f.BitOffset + f.BitSize - 1) / 8
	if first < 0 || last >= int64(len(b)) || last-first >= 8 {
		return 0, false
	}
	var x uint64
	n := last - first + 1
	if bo == binary.BigEndian {
		for i := int64(0); i < n; i++ {
			x = x<<8 | uint64(b[first+i])
		}
		x >>= uint64(n*8 - f.BitOffset%8 - f.BitSize)
	} else {
		for i := n - 1; i >= 0; i-- {
			x = x<<8 | uint64(b[first+i])
		}
		x >>= uint64(f.BitOffset % 8)
	}
	return x & (1<<uint64(f.BitSize) - 1), true
}

// MemberError reports a missing struct/union member.
type MemberError struct {
	Type   string // C spelling of the type searched
	Member string
}

func (e *MemberError) Error() string { return fmt.Sprintf("%s has no member '%s'", e.Type, e.Member) }

type stepKind uint8

const (
	stepMember stepKind = iota
	stepArrow
	stepIndex
)

type pathStep struct {
	kind  stepKind
	name  string
	index int64
}

// parsePath parses "a.b", "a->b[3].c", ".a", "->a", "[2].x".
func parsePath(path string) ([]pathStep, error) {
	toks, err := lex(path)
	if err != nil {
		return nil, err
	}
	var steps []pathStep
	i := 0
	expectName := func(kind stepKind) error {
		if toks[i].kind != tIdent {
			return &ExprError{Expr: path, Col: toks[i].pos + 1, Msg: fmt.Sprintf("expected a member name, found %s", toks[i])}
		}
		steps = append(steps, pathStep{kind: kind, name: toks[i].text})
		i++
		return nil
	}
	if toks[0].kind == tIdent {
		if err := expectName(stepMember); err != nil {
			return nil, err
		}
	}
	for toks[i].kind != tEOF {
		t := toks[i]
		if t.kind != tPunct {
			return nil, &ExprError{Expr: path, Col: t.pos + 1, Msg: fmt.Sprintf("unexpected %s in member path", t)}
		}
		switch t.text {
		case ".", "->":
			i++
			k := stepMember
			if t.text == "->" {
				k = stepArrow
			}
			if err := expectName(k); err != nil {
				return nil, err
			}
		case "[":
			i++
			neg := false
			if toks[i].kind == tPunct && toks[i].text == "-" {
				neg = true
				i++
			}
			if toks[i].kind != tNum && toks[i].kind != tChar {
				return nil, &ExprError{Expr: path, Col: toks[i].pos + 1, Msg: fmt.Sprintf("expected an index, found %s", toks[i])}
			}
			v := int64(toks[i].val)
			if neg {
				v = -v
			}
			i++
			if toks[i].kind != tPunct || toks[i].text != "]" {
				return nil, &ExprError{Expr: path, Col: toks[i].pos + 1, Msg: fmt.Sprintf("expected ']', found %s", toks[i])}
			}
			i++
			steps = append(steps, pathStep{kind: stepIndex, index: v})
		default:
			return nil, &ExprError{Expr: path, Col: t.pos + 1, Msg: fmt.Sprintf("unexpected %s in member path", t)}
		}
	}
	if len(steps) == 0 {
		return nil, &ExprError{Expr: path, Msg: "empty member path"}
	}
	return steps, nil
}

// TypeString spells t as C does in a cast: "struct task_struct *",
// "char [16]", "long unsigned int", "void (*)(int)".
func TypeString(t dwarf.Type) string { return CDecl(t, "") }

// CDecl spells a declaration of name with type t: "char comm[16]",
// "struct list_head *next", "void (*fn)(struct rcu_head *)". With name ""
// it spells the type alone.
func CDecl(t dwarf.Type, name string) string {
	return cdecl(t, name, 0)
}

func cdecl(t dwarf.Type, inner string, depth int) string {
	if depth > 64 {
		return "..." + inner
	}
	join := func(base, inner string) string {
		if inner == "" {
			return base
		}
		return base + " " + inner
	}
	switch x := t.(type) {
	case nil:
		return join("void", inner)
	case *dwarf.PtrType:
		switch stripQual(x.Type).(type) {
		case *dwarf.ArrayType, *dwarf.FuncType:
			return cdecl(x.Type, "(*"+inner+")", depth+1)
		}
		return cdecl(x.Type, "*"+inner, depth+1)
	case *dwarf.ArrayType:
		n := ""
		if x.Count >= 0 {
			n = strconv.FormatInt(x.Count, 10)
		}
		return cdecl(x.Type, inner+"["+n+"]", depth+1)
	case *dwarf.FuncType:
		var ps []string
		for _, p := range x.ParamType {
			ps = append(ps, cdecl(p, "", depth+1))
		}
		if len(ps) == 0 {
			ps = []string{"void"}
		}
		return cdecl(x.ReturnType, inner+"("+strings.Join(ps, ", ")+")", depth+1)
	case *dwarf.QualType:
		switch at := x.Type.(type) {
		case *dwarf.PtrType:
			return cdecl(x.Type, x.Qual+" "+inner, depth+1)
		case *dwarf.ArrayType:
			// A qualified array is an array of qualified elements.
			if q, ok := at.Type.(*dwarf.QualType); ok && q.Qual == x.Qual {
				return cdecl(at, inner, depth+1)
			}
			elem := &dwarf.QualType{Qual: x.Qual, Type: at.Type}
			return cdecl(&dwarf.ArrayType{CommonType: at.CommonType, Type: elem, Count: at.Count, StrideBitSize: at.StrideBitSize}, inner, depth+1)
		}
		return join(x.Qual+" "+cdecl(x.Type, "", depth+1), inner)
	case *dwarf.StructType:
		if x.StructName == "" {
			return join(x.Kind+" {...}", inner)
		}
		return join(x.Kind+" "+x.StructName, inner)
	case *dwarf.EnumType:
		if x.EnumName == "" {
			return join("enum {...}", inner)
		}
		return join("enum "+x.EnumName, inner)
	case *dwarf.TypedefType:
		return join(x.Name, inner)
	case *dwarf.VoidType:
		return join("void", inner)
	case *dwarf.DotDotDotType:
		return "..."
	case *dwarf.UnspecifiedType:
		return join(x.Name, inner)
	}
	if n := t.Common().Name; n != "" {
		return join(n, inner)
	}
	return join(t.String(), inner)
}
