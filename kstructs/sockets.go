package kstructs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Socket is one open socket of a task (struct socket and its struct sock,
// include/linux/net.h, include/net/sock.h), as crash's net -s shows it.
type Socket struct {
	FD     int    `json:"fd"`
	Socket uint64 `json:"socket"`
	Sock   uint64 `json:"sock"`
	Family string `json:"family"`                // UNIX, INET, INET6, NETLINK, PACKET, or the number
	Type   string `json:"type"`                  // STREAM, DGRAM, RAW, ...
	Source string `json:"source,omitempty"`      // INET/INET6: address-port
	Dest   string `json:"destination,omitempty"` // INET/INET6: address-port
}

// Address families and socket types by number (include/linux/socket.h,
// include/linux/net.h enum sock_type).
var (
	sockFamilies = map[uint64]string{1: "UNIX", 2: "INET", 10: "INET6", 16: "NETLINK", 17: "PACKET"}
	sockTypes    = map[uint64]string{1: "STREAM", 2: "DGRAM", 3: "RAW", 4: "RDM", 5: "SEQPACKET", 6: "DCCP", 10: "PACKET"}
)

// sockLayout: a socket file's struct socket and its struct sock
// (include/linux/fs.h, include/linux/net.h, include/net/sock.h), and
// socket_file_ops, the f_op of every socket file.
type sockLayout struct {
	dec                     decoder
	ops                     uint64 // &socket_file_ops
	file                    *structLayout
	fOp, private            fieldLoc
	sk                      fieldLoc // socket.sk
	sock                    *structLayout
	family, typ, num, dport fieldLoc
	rcvSaddr, daddr         fieldLoc
	rcvSaddr6, daddr6       fieldLoc // absent without CONFIG_IPV6
}

func (k *Kernel) sockLayout() (*sockLayout, error) {
	return layoutOf(k, &k.cache().sock, func(ls *layoutSet, dec decoder) (*sockLayout, error) {
		ops, err := k.Image.Variable("socket_file_ops")
		if err != nil {
			return nil, fmt.Errorf("socket_file_ops: %w", err)
		}
		return buildSockLayout(ls, dec, ops.Addr)
	})
}

func buildSockLayout(ls *layoutSet, dec decoder, ops uint64) (*sockLayout, error) {
	l := &sockLayout{dec: dec, ops: ops}
	l.file = ls.add("file", func(b *layoutBuilder) { l.fOp, l.private = b.need("f_op"), b.need("private_data") })
	ls.add("socket", func(b *layoutBuilder) { l.sk = b.need("sk") })
	l.sock = ls.add("sock", func(b *layoutBuilder) {
		l.family, l.typ = b.need("__sk_common.skc_family"), b.need("sk_type")
		l.num, l.dport = b.need("__sk_common.skc_num"), b.need("__sk_common.skc_dport")
		l.rcvSaddr, l.daddr = b.need("__sk_common.skc_rcv_saddr"), b.need("__sk_common.skc_daddr")
		l.rcvSaddr6, l.daddr6 = b.opt("__sk_common.skc_v6_rcv_saddr"), b.opt("__sk_common.skc_v6_daddr")
	})
	if err := ls.err(); err != nil {
		return nil, err
	}
	if l.rcvSaddr.Size != 4 || l.daddr.Size != 4 || l.dport.Size != 2 ||
		l.rcvSaddr6.ok() && (l.rcvSaddr6.Size != 16 || l.daddr6.Size != 16) {
		return nil, fmt.Errorf("sock_common's addresses or ports are not IPv4/IPv6 sized in the vmlinux's DWARF")
	}
	return l, nil
}

// Sockets lists t's open files that are sockets: a file whose f_op is
// socket_file_ops has its struct socket in private_data (net/socket.c
// sock_from_file). A socket whose sock cannot be read is listed without
// it and its error joined to the one returned.
func (k *Kernel) Sockets(t *Task) ([]Socket, error) {
	tf, err := k.Files(t)
	if tf == nil {
		return nil, err
	}
	l, lerr := k.sockLayout()
	if lerr != nil {
		return nil, lerr
	}
	errs := []error{err}
	var out []Socket
	for _, f := range tf.Files {
		so, ok, err := k.socketOf(l, f.FD, f.File)
		if ok {
			out = append(out, so)
		}
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// socketOf is the socket behind the file at file, if it is a socket file.
func (k *Kernel) socketOf(l *sockLayout, fd int, file uint64) (Socket, bool, error) {
	fb, err := l.file.read(k, file)
	if err != nil || l.dec.uint(fb, l.fOp) != l.ops {
		return Socket{}, false, err
	}
	so := Socket{FD: fd, Socket: l.dec.uint(fb, l.private)}
	if so.Sock, err = k.readPtrMember(so.Socket, l.sk, "socket.sk"); err != nil || so.Sock == 0 {
		return so, true, err
	}
	sk, err := l.sock.read(k, so.Sock)
	if err != nil {
		return so, true, err
	}
	fam, typ := l.dec.uint(sk, l.family), l.dec.uint(sk, l.typ)
	so.Family, so.Type = nameOr(sockFamilies, fam), nameOr(sockTypes, typ)
	if fam == 2 || fam == 10 {
		so.Source, so.Dest = l.inetEnds(sk, fam == 10)
	}
	return so, true, nil
}

func nameOr(m map[uint64]string, v uint64) string {
	if n, ok := m[v]; ok {
		return n
	}
	return fmt.Sprint(v)
}

// inetEnds is "address-port" of both ends from sock_common
// (skc_rcv_saddr/skc_daddr, skc_num is the local port in host order,
// skc_dport the remote one in network order).
func (l *sockLayout) inetEnds(sk []byte, v6 bool) (string, string) {
	addr := func(f4, f6 fieldLoc) string {
		switch {
		case !v6:
			return netip.AddrFrom4([4]byte(sk[f4.Off : f4.Off+4])).String()
		case f6.ok():
			return netip.AddrFrom16([16]byte(sk[f6.Off : f6.Off+16])).String()
		}
		return "?"
	}
	dport := binary.BigEndian.Uint16(sk[l.dport.Off:]) // network order
	return fmt.Sprintf("%s-%d", addr(l.rcvSaddr, l.rcvSaddr6), l.dec.uint(sk, l.num)),
		fmt.Sprintf("%s-%d", addr(l.daddr, l.daddr6), dport)
}
