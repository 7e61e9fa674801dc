package kstructs

import (
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

// Sockets lists t's open files that are sockets: a file whose f_op is
// socket_file_ops has its struct socket in private_data (net/socket.c
// sock_from_file).
func (k *Kernel) Sockets(t *Task) ([]Socket, error) {
	tf, err := k.Files(t)
	if tf == nil {
		return nil, err
	}
	ops, oerr := k.Image.Variable("socket_file_ops")
	if oerr != nil {
		return nil, fmt.Errorf("socket_file_ops: %w", oerr)
	}
	var out []Socket
	for _, f := range tf.Files {
		fs := k.readStruct("file", f.File)
		if fs.err != nil || fs.u("f_op") != ops.Addr {
			continue
		}
		so := Socket{FD: f.FD, Socket: fs.u("private_data")}
		so.Sock = k.readStruct("socket", so.Socket).u("sk")
		sk := k.readStruct("sock", so.Sock)
		fam, typ := sk.u("__sk_common.skc_family"), sk.u("sk_type")
		so.Family, so.Type = nameOr(sockFamilies, fam), nameOr(sockTypes, typ)
		if fam == 2 || fam == 10 {
			so.Source, so.Dest = k.inetEnds(sk, fam == 10)
		}
		out = append(out, so)
	}
	return out, err
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
func (k *Kernel) inetEnds(sk *structAt, v6 bool) (string, string) {
	bytesAt := func(p string, n int) []byte {
		f, err := k.Image.Member(sk.t, p)
		if err != nil || f.ByteOffset+int64(n) > int64(len(sk.b)) {
			return nil
		}
		return sk.b[f.ByteOffset : f.ByteOffset+int64(n)]
	}
	addr := func(p4, p6 string) string {
		if v6 {
			if b := bytesAt(p6, 16); b != nil {
				return netip.AddrFrom16([16]byte(b)).String()
			}
		} else if b := bytesAt(p4, 4); b != nil {
			return netip.AddrFrom4([4]byte(b)).String()
		}
		return "?"
	}
	dport := sk.u("__sk_common.skc_dport")
	dport = dport>>8 | (dport&0xff)<<8 // network order
	return fmt.Sprintf("%s-%d", addr("__sk_common.skc_rcv_saddr", "__sk_common.skc_v6_rcv_saddr"), sk.u("__sk_common.skc_num")),
		fmt.Sprintf("%s-%d", addr("__sk_common.skc_daddr", "__sk_common.skc_v6_daddr"), dport)
}
