package kstructs

import (
	"fmt"
	"net/netip"
)

// NetDevice is one network interface of a network namespace (struct
// net_device, include/linux/netdevice.h) with its IPv4 and IPv6
// addresses.
type NetDevice struct {
	Addr  uint64   `json:"net_device"`
	Name  string   `json:"name"`
	Addrs []string `json:"addresses"`
}

// NetDevices lists the interfaces of the network namespace of task (its
// nsproxy->net_ns, or init_net when task is 0) in dev_base_head order, as
// crash's net does: IPv4 addresses from ip_ptr->ifa_list, then IPv6 ones
// from ip6_ptr->addr_list.
func (k *Kernel) NetDevices(task uint64) ([]NetDevice, error) {
	ns, err := k.netNS(task)
	if err != nil {
		return nil, err
	}
	nt, err := k.structType("net")
	if err != nil {
		return nil, err
	}
	head, err := k.Image.Member(nt, "dev_base_head")
	if err != nil {
		return nil, err
	}
	dt, err := k.structType("net_device")
	if err != nil {
		return nil, err
	}
	link, err := k.Image.Member(dt, "dev_list")
	if err != nil {
		return nil, err
	}
	nodes, err := WalkList(k, ns+uint64(head.ByteOffset), ListOptions{Head: true, Limit: 1 << 16})
	var out []NetDevice
	for _, n := range nodes {
		d := n - uint64(link.ByteOffset)
		s := k.readStruct("net_device", d)
		if s.err != nil {
			return out, s.err
		}
		nd := NetDevice{Addr: d, Name: s.str("name"), Addrs: []string{}}
		nd.Addrs = append(nd.Addrs, k.inet4Addrs(s.u("ip_ptr"))...)
		nd.Addrs = append(nd.Addrs, k.inet6Addrs(s.u("ip6_ptr"))...)
		out = append(out, nd)
	}
	return out, err
}

func (k *Kernel) netNS(task uint64) (uint64, error) {
	if task != 0 {
		nsp := k.readStruct("task_struct", task).u("nsproxy")
		if nsp != 0 {
			if ns := k.readStruct("nsproxy", nsp).u("net_ns"); ns != 0 {
				return ns, nil
			}
		}
	}
	v, err := k.Image.Variable("init_net")
	if err != nil {
		return 0, fmt.Errorf("no network namespace: %w", err)
	}
	return v.Addr, nil
}

// inet4Addrs follows in_device->ifa_list and each in_ifaddr's ifa_next.
func (k *Kernel) inet4Addrs(inDev uint64) []string {
	var out []string
	if inDev == 0 {
		return out
	}
	a := k.readStruct("in_device", inDev).u("ifa_list")
	for n := 0; a != 0 && n < 1024; n++ {
		ifa := k.readStruct("in_ifaddr", a)
		if ifa.err != nil {
			break
		}
		f, err := k.Image.Member(ifa.t, "ifa_address")
		if err != nil || f.ByteOffset+4 > int64(len(ifa.b)) {
			break
		}
		ip := netip.AddrFrom4([4]byte(ifa.b[f.ByteOffset : f.ByteOffset+4])) // network byte order
		out = append(out, ip.String())
		a = ifa.u("ifa_next")
	}
	return out
}

// inet6Addrs walks inet6_dev->addr_list (struct inet6_ifaddr, if_list).
func (k *Kernel) inet6Addrs(in6 uint64) []string {
	var out []string
	if in6 == 0 {
		return out
	}
	dt, err1 := k.structType("inet6_dev")
	it, err2 := k.structType("inet6_ifaddr")
	if err1 != nil || err2 != nil {
		return out
	}
	head, err1 := k.Image.Member(dt, "addr_list")
	link, err2 := k.Image.Member(it, "if_list")
	addr, err3 := k.Image.Member(it, "addr")
	if err1 != nil || err2 != nil || err3 != nil {
		return out
	}
	nodes, _ := WalkList(k, in6+uint64(head.ByteOffset), ListOptions{Head: true, Limit: 1024})
	for _, n := range nodes {
		b, err := k.readBytes(n-uint64(link.ByteOffset)+uint64(addr.ByteOffset), 16, "in6_addr")
		if err != nil {
			break
		}
		out = append(out, netip.AddrFrom16([16]byte(b)).String())
	}
	return out
}
