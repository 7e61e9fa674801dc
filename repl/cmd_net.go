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
	fmt.Fprintf(&b, "%s  NAME       IP ADDRESS(ES)\n", center(max(hw, len("NET_DEVICE")), "NET_DEVICE", false))
	for _, d := range r.Devices {
		fmt.Fprintf(&b, "%*x  %-10s %s\n", max(hw, len("NET_DEVICE")), d.Addr, d.Name, strings.Join(d.Addrs, ", "))
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "net: %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func netCmd() *Command {
	return &Command{
		Name:     "net",
		Synopsis: "net",
		Summary:  "network interfaces with their addresses",
		Description: "Lists the network devices of the current context task's network namespace (nsproxy->net_ns, " +
			"else init_net) in dev_base_head order, as crash's net does: struct net_device, name, and the IPv4 " +
			"(in_device ifa_list) then IPv6 (inet6_dev addr_list) addresses. --json gives the same.",
		Examples: []string{"net", "net --json"},
		Run:      runNet,
	}
}

func runNet(s *Session, inv *Invocation) (Result, error) {
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
