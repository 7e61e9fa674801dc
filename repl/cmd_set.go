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
	// only names the one variable `set radix`/`set scroll` showed or
	// changed: crash then prints just its line ("output radix: 16 (hex)",
	// "scroll: off (none)").
	only string
}

func (v setVars) Text(w io.Writer, s *Session) error {
	radix := fmt.Sprintf("%d (%s)", v.Radix, map[int]string{10: "decimal", 16: "hex"}[v.Radix])
	scroll := "off (none)"
	if v.Scroll {
		scroll = "on (" + pagerName() + ")"
	}
	switch v.only {
	case "radix":
		fmt.Fprintf(w, "output radix: %s\n", radix)
	case "scroll":
		fmt.Fprintf(w, "scroll: %s\n", scroll)
	default:
		fmt.Fprintf(w, "        radix: %s\n", radix)
		fmt.Fprintf(w, "       scroll: %s\n", scroll)
	}
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
		if len(args) == 1 {
			return true, nil
		}
		if len(args) != 2 {
			return true, &UsageError{"set", "usage: set radix [10|16]"}
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || (n != 10 && n != 16) {
			return true, &UsageError{"set", fmt.Sprintf("radix must be 10 or 16, not %q", args[1])}
		}
		s.Vars.Radix = n
		return true, nil
	case "scroll":
		if len(args) == 1 {
			return true, nil
		}
		if len(args) != 2 || (args[1] != "on" && args[1] != "off") {
			return true, &UsageError{"set", "usage: set scroll [on|off]"}
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
