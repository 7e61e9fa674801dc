package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kinspect/kinspect/kstructs"
)

// netResult is `net`: the interfaces of the current task's namespace.
type netResult struct {
	Devices []kstructs.NetDevice `json:"devices"`
	Error   string               `json:"error,omitempty"`
}

func (r netResult) Text(w io.Writer, s *Session) error {
	hw := s.hexWidth()
	var b strings.Builder
	fmt.Fprintf(&b, "%s  NAME       IP ADDRESS(ES)\n", crashCenter("NET_DEVICE", max(hw, len("NET_DEVICE")), false))
	for _, d := range r.Devices {
		fmt.Fprintf(&b, "%*x  %-10s %s\n", max(hw, len("NET_DEVICE")), d.Addr, d.Name, strings.Join(d.Addrs, ", "))
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "net: %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// netSockets is `net -s`: the sockets of tasks.
type netSockets struct {
	Tasks []netSocketTask `json:"tasks"`
}

type netSocketTask struct {
	PID     int               `json:"pid"`
	Task    string            `json:"task"`
	Comm    string            `json:"comm"`
	Sockets []kstructs.Socket `json:"sockets"`
	Error   string            `json:"error,omitempty"`
	t       *kstructs.Task
}

func (r netSockets) Text(w io.Writer, s *Session) error {
	hw := s.hexWidth()
	var b strings.Builder
	for _, t := range r.Tasks {
		b.WriteString(s.taskHeader(t.t, false))
		fmt.Fprintf(&b, "FD  %s %s FAMILY:TYPE SOURCE-PORT DESTINATION-PORT\n", crashCenter("SOCKET", hw+2, false), crashCenter("SOCK", hw, false))
		for _, so := range t.Sockets {
			fmt.Fprintf(&b, "%2d %0*x %0*x %s:%s %s %s\n", so.FD, hw, so.Socket, hw, so.Sock, so.Family, so.Type, so.Source, so.Dest)
		}
		if t.Error != "" {
			fmt.Fprintf(&b, "net: %s\n", t.Error)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func netCmd() *Command {
	return &Command{
		Name:     "net",
		Synopsis: "net [-s [pid | task] ...]",
		Summary:  "network interfaces with their addresses",
		Description: "Lists the network devices of the current context task's network namespace (nsproxy->net_ns, " +
			"else init_net) in dev_base_head order, as crash's net does: struct net_device, name, and the IPv4 " +
			"(in_device ifa_list) then IPv6 (inet6_dev addr_list) addresses. -s lists the open sockets of tasks " +
			"(default: the context task): fd, struct socket, struct sock, family and type, and for INET/INET6 " +
			"the local and remote address-port. --json gives the same.",
		Examples: []string{"net", "net -s", "net -s 1", "net --json"},
		Flags:    []Flag{{Short: "s", Help: "open sockets of tasks"}},
		Run:      runNet,
	}
}

func runNet(s *Session, inv *Invocation) (Result, error) {
	if inv.Has("s") {
		return runNetSockets(s, inv)
	}
	if len(inv.Args) > 0 {
		return nil, &UsageError{"net", fmt.Sprintf("unexpected argument %q", inv.Args[0])}
	}
	var task uint64
	if t, err := s.contextTask(); err == nil && t != nil {
		task = t.Addr
	}
	devs, err := s.K.NetDevices(task)
	if devs == nil && err != nil {
		return nil, err
	}
	r := netResult{Devices: devs}
	if r.Devices == nil {
		r.Devices = []kstructs.NetDevice{}
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r, nil
}

func runNetSockets(s *Session, inv *Invocation) (Result, error) {
	tasks, err := s.argTasks(inv)
	if err != nil {
		return nil, err
	}
	r := netSockets{Tasks: []netSocketTask{}}
	for _, t := range tasks {
		nt := netSocketTask{PID: t.PID, Task: s.addr(t.Addr), Comm: t.Comm, t: t, Sockets: []kstructs.Socket{}}
		socks, err := s.K.Sockets(t)
		nt.Sockets = append(nt.Sockets, socks...)
		if err != nil {
			nt.Error = err.Error()
		}
		r.Tasks = append(r.Tasks, nt)
	}
	return r, nil
}
