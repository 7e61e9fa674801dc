package repl

import (
	"fmt"
	"io"
	"os"
	"strconv"
)

// setVars is `set` output for the session variables.
type setVars struct {
	Radix  int  `json:"radix"`
	Scroll bool `json:"scroll"`
}

func (v setVars) Text(w io.Writer, s *Session) error {
	onoff := map[bool]string{true: "on", false: "off"}
	fmt.Fprintf(w, "        radix: %d (%s)\n", v.Radix, map[int]string{10: "decimal", 16: "hex"}[v.Radix])
	fmt.Fprintf(w, "       scroll: %s (%s)\n", onoff[v.Scroll], pagerName())
	return nil
}

// setVariable handles `set radix 16`, `set scroll off`. It reports whether
// args named a variable (otherwise `set` treats them as a task context).
func (s *Session) setVariable(args []string) (bool, error) {
	if len(args) == 0 {
		return false, nil
	}
	switch args[0] {
	case "radix":
		if len(args) != 2 {
			return true, &UsageError{"set", "usage: set radix 10|16"}
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || (n != 10 && n != 16) {
			return true, &UsageError{"set", fmt.Sprintf("radix must be 10 or 16, not %q", args[1])}
		}
		s.Vars.Radix = n
		return true, nil
	case "scroll":
		if len(args) != 2 || (args[1] != "on" && args[1] != "off") {
			return true, &UsageError{"set", "usage: set scroll on|off"}
		}
		s.Vars.Scroll = args[1] == "on"
		return true, nil
	}
	return false, nil
}

func pagerName() string {
	if p := os.Getenv("PAGER"); p != "" {
		return p
	}
	return "less -FRX"
}
