package kstructs

import (
	"errors"
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

// netLayout: a namespace's devices and their addresses
// (include/linux/netdevice.h, include/linux/inetdevice.h, include/net/
// if_inet6.h), and where a task finds its namespace (include/linux/
// nsproxy.h).
type netLayout struct {
	dec                        decoder
	nsproxy, netNS, devBase    fieldLoc // task_struct.nsproxy, nsproxy.net_ns, net.dev_base_head
	dev                        *structLayout
	devList, devName, ip4, ip6 fieldLoc
	ifaList                    fieldLoc // in_device.ifa_list
	ifa                        *structLayout
	ifaNext, ifaAddr           fieldLoc
	// A kernel built without IPv6 has no struct inet6_dev in its DWARF:
	// in6 is then false and no IPv6 address is listed.
	in6                     bool
	addrList, ifList, addr6 fieldLoc // inet6_dev.addr_list, inet6_ifaddr.if_list, .addr
}

func (k *Kernel) netLayout() (*netLayout, error) {
	return layoutOf(k, &k.cache().net, buildNetLayout)
}

func buildNetLayout(ls *layoutSet, dec decoder) (*netLayout, error) {
	l := &netLayout{dec: dec}
	ls.add("task_struct", func(b *layoutBuilder) { l.nsproxy = b.need("nsproxy") })
	ls.add("nsproxy", func(b *layoutBuilder) { l.netNS = b.need("net_ns") })
	ls.add("net", func(b *layoutBuilder) { l.devBase = b.need("dev_base_head") })
	l.dev = ls.add("net_device", func(b *layoutBuilder) {
		l.devList, l.devName, l.ip4, l.ip6 = b.need("dev_list"), b.need("name"), b.need("ip_ptr"), b.opt("ip6_ptr")
	})
	ls.add("in_device", func(b *layoutBuilder) { l.ifaList = b.need("ifa_list") })
	l.ifa = ls.add("in_ifaddr", func(b *layoutBuilder) { l.ifaNext, l.ifaAddr = b.need("ifa_next"), b.need("ifa_address") })
	in6dev := ls.optional("inet6_dev", func(b *layoutBuilder) { l.addrList = b.need("addr_list") })
	in6ifa := ls.optional("inet6_ifaddr", func(b *layoutBuilder) { l.ifList, l.addr6 = b.need("if_list"), b.need("addr") })
	l.in6 = l.ip6.ok() && in6dev != nil && in6ifa != nil
	if err := ls.err(); err != nil {
		return nil, err
	}
	if l.ifaAddr.Size != 4 || l.in6 && l.addr6.Size != 16 {
		return nil, fmt.Errorf("in_ifaddr.ifa_address is %d bytes, inet6_ifaddr.addr %d: not IPv4/IPv6 addresses", l.ifaAddr.Size, l.addr6.Size)
	}
	return l, nil
}

// NetDevices lists the interfaces of the network namespace of task (its
// nsproxy->net_ns, or init_net when task is 0) in dev_base_head order, as
// crash's net does: IPv4 addresses from ip_ptr->ifa_list, then IPv6 ones
// from ip6_ptr->addr_list. A device whose addresses cannot all be read is
// listed with those read and its error joined to the one returned.
func (k *Kernel) NetDevices(task uint64) ([]NetDevice, error) {
	l, err := k.netLayout()
	if err != nil {
		return nil, err
	}
	ns, err := k.netNS(l, task)
	if err != nil {
		return nil, err
	}
	nodes, err := WalkList(k, ns+uint64(l.devBase.Off), ListOptions{Head: true, Limit: 1 << 16})
	errs := []error{err}
	var out []NetDevice
	for _, n := range nodes {
		d := n - uint64(l.devList.Off)
		b, err := l.dev.read(k, d)
		if err != nil {
			return out, errors.Join(append(errs, err)...)
		}
		nd := NetDevice{Addr: d, Name: l.dec.str(b, l.devName), Addrs: []string{}}
		a4, err4 := k.inet4Addrs(l, l.dec.uint(b, l.ip4))
		a6, err6 := k.inet6Addrs(l, l.dec.uint(b, l.ip6))
		nd.Addrs = append(append(nd.Addrs, a4...), a6...)
		if err := errors.Join(err4, err6); err != nil {
			errs = append(errs, fmt.Errorf("net_device %#x (%s): %w", d, nd.Name, err))
		}
		out = append(out, nd)
	}
	return out, errors.Join(errs...)
}

// netNS is task's nsproxy->net_ns, or init_net for no task (or one that
// has exited and dropped its nsproxy).
func (k *Kernel) netNS(l *netLayout, task uint64) (uint64, error) {
	if task != 0 {
		nsp, err := k.readPtrMember(task, l.nsproxy, "task_struct.nsproxy")
		if err != nil {
			return 0, err
		}
		if nsp != 0 {
			ns, err := k.readPtrMember(nsp, l.netNS, "nsproxy.net_ns")
			if err != nil || ns != 0 {
				return ns, err
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
func (k *Kernel) inet4Addrs(l *netLayout, inDev uint64) ([]string, error) {
	if inDev == 0 {
		return nil, nil
	}
	a, err := k.readPtrMember(inDev, l.ifaList, "in_device.ifa_list")
	var out []string
	for n := 0; a != 0 && err == nil; n++ {
		if n >= 1024 {
			return out, fmt.Errorf("in_device %#x: ifa_list loops at %#x", inDev, a)
		}
		var b []byte
		if b, err = l.ifa.read(k, a); err == nil {
			ip := netip.AddrFrom4([4]byte(b[l.ifaAddr.Off : l.ifaAddr.Off+4])) // network byte order
			out = append(out, ip.String())
			a = l.dec.uint(b, l.ifaNext)
		}
	}
	return out, err
}

// inet6Addrs walks inet6_dev->addr_list (struct inet6_ifaddr, if_list).
func (k *Kernel) inet6Addrs(l *netLayout, in6 uint64) ([]string, error) {
	if in6 == 0 || !l.in6 {
		return nil, nil
	}
	nodes, err := WalkList(k, in6+uint64(l.addrList.Off), ListOptions{Head: true, Limit: 1024})
	var out []string
	for _, n := range nodes {
		b, err := k.readBytes(n-uint64(l.ifList.Off)+uint64(l.addr6.Off), 16, "inet6_ifaddr.addr")
		if err != nil {
			return out, err
		}
		out = append(out, netip.AddrFrom16([16]byte(b)).String())
	}
	return out, err
}
