package repl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// jsonNode is a decoded value for --json: its C type, its address (if it
// has one) and its value — a number, a string, an object of members
// (member name → jsonNode, in declaration order; anonymous struct/union
// members are flattened into their parent, as C lets you name them) or an
// array of elements.
type jsonNode struct {
	Type   string `json:"type"`
	Addr   string `json:"addr,omitempty"`
	Value  any    `json:"value"`
	Symbol string `json:"symbol,omitempty"` // pointers into the kernel image
	String string `json:"string,omitempty"` // char * targets
	Error  string `json:"error,omitempty"`  // unreadable memory
	// Truncated: the array had more elements than printed.
	Truncated bool `json:"truncated,omitempty"`
}

// jsonMembers is an ordered JSON object.
type jsonMembers struct {
	names []string
	nodes []*jsonNode
}

func (m *jsonMembers) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, n := range m.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(n)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.nodes[i])
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (m *jsonMembers) add(n *vnode, j *jsonNode) {
	m.names = append(m.names, n.Name)
	m.nodes = append(m.nodes, j)
}

// jsonNode converts a decoded value. Integers are JSON numbers (enums and
// bools their names / true,false), pointers "0x..." strings; radix 16 makes
// integers "0x..." strings too.
func (s *Session) jsonNode(n *vnode, radix int) *jsonNode {
	if n == nil {
		return nil
	}
	j := &jsonNode{Type: gdbType(n.Type)}
	if n.HasAddr {
		j.Addr = fmt.Sprintf("%#x", n.Addr)
	}
	if n.Err != nil {
		j.Error = n.Err.Error()
		return j
	}
	switch n.Kind {
	case vkStruct:
		m := &jsonMembers{}
		var walk func(n *vnode)
		walk = func(n *vnode) {
			for _, k := range n.Kids {
				if k.Anon {
					walk(k)
					continue
				}
				m.add(k, s.jsonNode(k, radix))
			}
		}
		walk(n)
		j.Value = m
	case vkArray:
		elems := make([]*jsonNode, 0, len(n.Kids))
		for _, k := range n.Kids {
			elems = append(elems, s.jsonNode(k, radix))
		}
		j.Value = elems
		j.Truncated = n.truncated()
	case vkString:
		str := n.Str
		if i := bytes.IndexByte(str, 0); i >= 0 {
			str = str[:i]
		}
		j.Value = string(str[:min(len(str), printMax)])
		j.Truncated = n.truncated()
	case vkPtr:
		j.Value = fmt.Sprintf("%#x", n.U)
		if name, off, ok := s.kernelSymbol(n.U); ok && !n.CharPtr {
			j.Symbol = name
			if off != 0 {
				j.Symbol += "+" + strconv.FormatUint(off, 10)
			}
		}
		if n.StrOK {
			j.String = string(n.Str[:min(len(n.Str), printMax)])
		}
	case vkFunc:
		if n.HasAddr {
			j.Value = fmt.Sprintf("%#x", n.Addr)
		}
	case vkBool:
		j.Value = n.U != 0
	case vkEnum:
		p := &gdbPrinter{radix: 10}
		p.enum(n)
		j.Value = p.String()
	case vkFloat:
		j.Value = n.F
	case vkOther:
		j.Value = fmt.Sprintf("0x%x", n.Str)
	default:
		switch {
		case radix == 16:
			p := &gdbPrinter{radix: 16}
			p.integer(n)
			j.Value = p.String()
		case n.Wide != nil:
			j.Value = json.Number(n.Wide.String())
		case n.Signed:
			j.Value = int64(n.U)
		default:
			j.Value = n.U
		}
	}
	return j
}
