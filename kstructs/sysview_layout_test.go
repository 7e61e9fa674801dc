package kstructs

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// miniKernel is a mini DWARF of the structs the system views read, as a
// 64-bit kernel with CONFIG_THREAD_INFO_IN_TASK and IPv6 defines them:
// member "path:spec" in declaration order, nested paths making nested
// structs; spec is P (a pointer), a byte count, P*N or a byte count *N (an
// array), or @name*N (an array of another mini struct). Only the members
// the views read and the kernel headers' names matter: include/linux/
// wait.h, sched.h, sched/signal.h, signal_types.h, fs/char_dev.c,
// drivers/base/map.c, block/genhd.c, block/bdev.c, include/linux/pci.h,
// netdevice.h, inetdevice.h, net/if_inet6.h, nsproxy.h, net.h, net/sock.h,
// kernel/module/sysfs.c.
var miniKernel = map[string][]string{
	"wait_queue_head":    {"lock:4", "head:16"},
	"wait_queue_entry":   {"flags:4", "private:P", "func:P", "entry:16"},
	"task_struct":        {"thread_info.flags:P", "stack:P", "signal:P", "sighand:P", "blocked:8", "pending.list:16", "pending.signal:8", "nsproxy:P"},
	"thread_info":        {"flags:P"},
	"signal_struct":      {"sigcnt:4", "nr_threads:4", "shared_pending.list:16", "shared_pending.signal:8"},
	"sighand_struct":     {"count:4", "action:@k_sigaction*64"},
	"k_sigaction":        {"sa.sa_handler:P", "sa.sa_flags:P", "sa.sa_restorer:P", "sa.sa_mask:8"},
	"char_device_struct": {"next:P", "major:4", "baseminor:4", "minorct:4", "name:64", "cdev:P"},
	"cdev":               {"kobj:64", "owner:P", "ops:P"},
	"kobj_map":           {"probes:P*255", "lock:P"},
	"probe":              {"next:P", "dev:4", "range:P", "owner:P", "get:P", "lock:P", "data:P"},
	"blk_major_name":     {"next:P", "major:4", "name:16"},
	"gendisk":            {"major:4", "first_minor:4", "fops:P"},
	"super_block":        {"s_list:16", "s_inodes:16"},
	"bdev_inode":         {"bdev:P", "vfs_inode:@inode*1"},
	"inode":              {"i_mode:2", "i_sb_list:16"},
	"block_device":       {"bd_start_sect:8", "bd_disk:P"},
	"pci_bus":            {"node:16", "parent:P", "children:16", "devices:16", "self:P", "dev.kobj.name:P"},
	"pci_dev":            {"bus_list:16", "bus:P", "device:2", "vendor:2", "class:4", "hdr_type:1", "pcie_cap:1", "pcie_flags_reg:2", "dev.kobj.name:P"},
	"nsproxy":            {"count:4", "net_ns:P"},
	"net":                {"list:16", "dev_base_head:16"},
	"net_device":         {"name:16", "dev_list:16", "ip_ptr:P", "ip6_ptr:P"},
	"in_device":          {"dev:P", "ifa_list:P"},
	"in_ifaddr":          {"ifa_next:P", "ifa_local:4", "ifa_address:4"},
	"inet6_dev":          {"dev:P", "addr_list:16"},
	"inet6_ifaddr":       {"addr:16", "if_list:16"},
	"file":               {"f_u:16", "f_op:P", "private_data:P"},
	"socket":             {"state:4", "type:2", "sk:P"},
	"module":             {"state:4", "name:56", "sect_attrs:P"},
	"module_sect_attrs":  {"grp:40", "nsections:4", "attrs:@module_sect_attr*0"},
	"module_sect_attr":   {"battr.attr.name:P", "battr.attr.mode:2", "battr.size:P", "address:P"},
	"sock":               {"__sk_common.skc_daddr:4", "__sk_common.skc_rcv_saddr:4", "__sk_common.skc_dport:2", "__sk_common.skc_num:2", "__sk_common.skc_family:2", "__sk_common.skc_v6_daddr:16", "__sk_common.skc_v6_rcv_saddr:16", "sk_type:2"},
}

// miniLookup is a layoutSet lookup over structs (a mini DWARF).
func miniLookup(structs map[string][]string) typeLookup {
	return func(name string) (dwarf.Type, error) {
		members, ok := structs[name]
		if !ok {
			return nil, fmt.Errorf("struct %s: not in the mini DWARF", name)
		}
		return miniStruct(structs, name, members), nil
	}
}

// miniStruct lays members out one after the other, nesting dotted paths.
func miniStruct(structs map[string][]string, name string, members []string) *dwarf.StructType {
	st := &dwarf.StructType{StructName: name, Kind: "struct"}
	var order []string
	nested := map[string][]string{}
	for _, m := range members {
		path, spec, _ := strings.Cut(m, ":")
		if head, rest, ok := strings.Cut(path, "."); ok {
			if _, seen := nested[head]; !seen {
				order = append(order, head)
			}
			nested[head] = append(nested[head], rest+":"+spec)
			continue
		}
		order = append(order, path)
		nested[path] = []string{":" + spec}
	}
	var off int64
	for _, m := range order {
		var t dwarf.Type
		if sub := nested[m]; strings.HasPrefix(sub[0], ":") {
			t = miniType(structs, strings.TrimPrefix(sub[0], ":"))
		} else {
			t = miniStruct(structs, "", sub)
		}
		align := max(min(t.Size(), 8), 1) // natural alignment, as the compiler pads
		off = (off + align - 1) / align * align
		st.Field = append(st.Field, &dwarf.StructField{Name: m, Type: t, ByteOffset: off})
		off += t.Size()
	}
	st.ByteSize = off
	return st
}

func miniType(structs map[string][]string, spec string) dwarf.Type {
	elem, count, isArray := strings.Cut(spec, "*")
	var t dwarf.Type
	switch {
	case elem == "P":
		pt := &dwarf.PtrType{}
		pt.ByteSize = 8
		t = pt
	case strings.HasPrefix(elem, "@"):
		t = miniStruct(structs, elem[1:], structs[elem[1:]])
	default:
		n, _ := strconv.Atoi(elem)
		ut := &dwarf.UintType{}
		ut.ByteSize = int64(n)
		t = ut
		if n > 8 { // a char array or an opaque blob (list_head, in6_addr)
			ct := &dwarf.UintType{}
			ct.ByteSize = 1
			t = &dwarf.ArrayType{CommonType: dwarf.CommonType{ByteSize: int64(n)}, Type: ct, Count: int64(n)}
		}
	}
	if !isArray {
		return t
	}
	n, _ := strconv.Atoi(count)
	return &dwarf.ArrayType{CommonType: dwarf.CommonType{ByteSize: t.Size() * int64(n)}, Type: t, Count: int64(n)}
}

type typeLookup = func(string) (dwarf.Type, error)

// sysViewBuilders are the system views' layout builders, over a lookup.
var sysViewBuilders = map[string]func(typeLookup) error{
	"waitq": builder(buildWaitqLayout),
	"sig":   builder(buildSigLayout),
	"pci":   builder(buildPCILayout),
	"net":   builder(buildNetLayout),
	"dev": builder(func(ls *layoutSet, d decoder) (*devLayout, error) {
		return buildDevLayout(ls, d, false) // 5.11+: gendisks from the block device inodes
	}),
	"sock": builder(func(ls *layoutSet, d decoder) (*sockLayout, error) { return buildSockLayout(ls, d, 0x1000) }),
	"mod":  builder(buildModSectLayout),
}

func builder[T any](build func(*layoutSet, decoder) (*T, error)) func(typeLookup) error {
	return func(l typeLookup) error {
		_, err := build(miniSet(l), miniDec)
		return err
	}
}

var miniDec = decoder{bo: binary.LittleEndian, ptr: 8}

func miniSet(lookup typeLookup) *layoutSet { return &layoutSet{lookup: lookup} }

// without is miniKernel with member (a top-level name) of struct name
// left out.
func without(name, member string) map[string][]string {
	out := maps.Clone(miniKernel)
	out[name] = slices.DeleteFunc(slices.Clone(out[name]), func(m string) bool {
		return strings.HasPrefix(m, member+":") || strings.HasPrefix(m, member+".")
	})
	return out
}

// withoutStruct is miniKernel without struct name.
func withoutStruct(name string) map[string][]string {
	out := maps.Clone(miniKernel)
	delete(out, name)
	return out
}

// optionalMembers are the members a view does without: thread_info in
// task_struct (else struct thread_info is read at the stack's base, and
// then the stack pointer and thread_info.flags are needed: see
// TestSysViewLayoutVariants) and ip6_ptr (a kernel without IPv6).
var optionalMembers = map[string]bool{
	"task_struct.thread_info": true, "task_struct.stack": true, "thread_info.flags": true, "net_device.ip6_ptr": true,
}

// TestSysViewLayoutMissingMember builds each view's layout from the mini
// DWARF, then from copies lacking one member at a time: every member a
// view reads gives an error naming the struct and the member, and
// nothing panics; the members kernels differ in are optional.
func TestSysViewLayoutMissingMember(t *testing.T) {
	for view, build := range sysViewBuilders {
		if err := build(miniLookup(miniKernel)); err != nil {
			t.Fatalf("%s on the whole mini DWARF: %v", view, err)
		}
	}
	for name, members := range miniKernel {
		for _, m := range members {
			path, _, _ := strings.Cut(m, ":")
			top, _, _ := strings.Cut(path, ".")
			var errs []string
			for view, build := range sysViewBuilders {
				if err := build(miniLookup(without(name, top))); err != nil {
					errs = append(errs, view+": "+err.Error())
				}
			}
			read := slices.ContainsFunc(errs, func(e string) bool {
				return strings.Contains(e, "struct "+name+" lacks member(s)") && strings.Contains(e, top)
			})
			switch {
			case optionalMembers[name+"."+top]:
				if len(errs) > 0 {
					t.Errorf("%s.%s is optional, yet: %s", name, top, strings.Join(errs, "; "))
				}
			case !read && !unread[name+"."+top]:
				t.Errorf("without %s.%s: no error names it: %q", name, top, errs)
			case read && unread[name+"."+top]:
				t.Errorf("%s.%s is listed as unread, yet: %s", name, top, strings.Join(errs, "; "))
			}
		}
	}
}

// unread are the mini structs' members no view reads (they only place
// the others at offsets other than 0).
var unread = map[string]bool{
	"wait_queue_head.lock": true, "wait_queue_entry.flags": true, "signal_struct.sigcnt": true,
	"sighand_struct.count": true, "char_device_struct.minorct": true, "cdev.kobj": true, "cdev.owner": true,
	"kobj_map.lock": true, "probe.range": true, "probe.owner": true, "probe.get": true, "probe.lock": true,
	"gendisk.first_minor": true, "super_block.s_list": true, "bdev_inode.bdev": true, "inode.i_mode": true,
	"block_device.bd_start_sect": true, "pci_dev.bus": true, "nsproxy.count": true, "net.list": true,
	"in_device.dev": true, "in_ifaddr.ifa_local": true, "inet6_dev.dev": true, "file.f_u": true,
	"socket.state": true, "socket.type": true, "module.state": true, "module.name": true,
	"module_sect_attrs.grp": true,
}

// TestSysViewLayoutVariants: a kernel without THREAD_INFO_IN_TASK needs
// task_struct.stack and struct thread_info; one without IPv6 (no struct
// inet6_dev) lists IPv4 only; a missing struct is named.
func TestSysViewLayoutVariants(t *testing.T) {
	noTI := without("task_struct", "thread_info")
	l, err := buildSigLayout(miniSet(miniLookup(noTI)), miniDec)
	if err != nil || l.tiFlags.ok() || !l.stack.ok() || l.tiFlagsAt.Off != 0 {
		t.Errorf("sig without thread_info in task_struct: %+v %v", l, err)
	}
	noTI["thread_info"] = nil
	if _, err := buildSigLayout(miniSet(miniLookup(noTI)), miniDec); err == nil || !strings.Contains(err.Error(), "struct thread_info lacks member(s) flags") {
		t.Errorf("sig without thread_info in task_struct nor thread_info.flags: %v", err)
	}
	noTI["thread_info"] = miniKernel["thread_info"]
	noStack := maps.Clone(noTI)
	noStack["task_struct"] = slices.DeleteFunc(slices.Clone(noTI["task_struct"]), func(m string) bool { return strings.HasPrefix(m, "stack:") })
	if _, err := buildSigLayout(miniSet(miniLookup(noStack)), miniDec); err == nil || !strings.Contains(err.Error(), "struct task_struct lacks member(s) stack") {
		t.Errorf("sig without thread_info nor stack: %v", err)
	}
	n, err := buildNetLayout(miniSet(miniLookup(withoutStruct("inet6_dev"))), miniDec)
	if err != nil || n.in6 {
		t.Errorf("net without struct inet6_dev: in6 %v, %v", n != nil && n.in6, err)
	}
	if _, err := buildDevLayout(miniSet(miniLookup(withoutStruct("probe"))), miniDec, true); err == nil || !strings.Contains(err.Error(), "struct probe") {
		t.Errorf("dev without struct probe: %v", err)
	}
	w, err := buildWaitqLayout(miniSet(miniLookup(miniKernel)), miniDec)
	if err != nil || w.private.Off != 8 || w.wakeFunc.Off != 16 || w.link.Off != 24 || w.head.Off != 8 {
		t.Errorf("waitq offsets %+v %v, want private 8 func 16 entry 24 head 8", w, err)
	}
}
