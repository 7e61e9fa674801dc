package repl

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// helpList is `help` without arguments: every command, in columns.
type helpList struct {
	Commands []helpEntry `json:"commands"`
}

type helpEntry struct {
	Name     string   `json:"name"`
	Aliases  []string `json:"aliases,omitempty"`
	Synopsis string   `json:"synopsis"`
	Summary  string   `json:"summary"`
}

func (h helpList) Text(w io.Writer, s *Session) error {
	names := make([]string, len(h.Commands))
	for i, c := range h.Commands {
		names[i] = c.Name
	}
	writeColumns(w, names, 5, 16)
	fmt.Fprintln(w, "\nhelp CMD shows a command's synopsis, description and examples.")
	return nil
}

// writeColumns prints words in ncol columns of width w, column-major like crash.
func writeColumns(w io.Writer, words []string, ncol, width int) {
	rows := (len(words) + ncol - 1) / ncol
	for r := 0; r < rows; r++ {
		var b strings.Builder
		for c := 0; c < ncol; c++ {
			i := c*rows + r
			if i < len(words) {
				fmt.Fprintf(&b, "%-*s", width, words[i])
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// helpPage is `help CMD`.
type helpPage struct {
	Name        string   `json:"name"`
	Aliases     []string `json:"aliases,omitempty"`
	Summary     string   `json:"summary"`
	Synopsis    string   `json:"synopsis"`
	Description string   `json:"description"`
	Flags       []Flag   `json:"flags,omitempty"`
	Examples    []string `json:"examples,omitempty"`
}

func (h helpPage) Text(w io.Writer, s *Session) error {
	fmt.Fprintf(w, "NAME\n  %s - %s\n\n", h.Name, h.Summary)
	if len(h.Aliases) > 0 {
		fmt.Fprintf(w, "ALIASES\n  %s\n\n", strings.Join(h.Aliases, ", "))
	}
	fmt.Fprintf(w, "SYNOPSIS\n  %s\n\n", h.Synopsis)
	fmt.Fprintln(w, "DESCRIPTION")
	for _, para := range strings.Split(strings.TrimSpace(h.Description), "\n") {
		fmt.Fprintf(w, "  %s\n", para)
	}
	if len(h.Flags) > 0 {
		fmt.Fprintln(w)
		for _, f := range h.Flags {
			fmt.Fprintf(w, "  %-18s %s\n", flagSpelling(f), f.Help)
		}
	}
	if len(h.Examples) > 0 {
		fmt.Fprintln(w, "\nEXAMPLES")
		for _, e := range h.Examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	return nil
}

func flagSpelling(f Flag) string {
	var parts []string
	if f.Short != "" {
		parts = append(parts, "-"+f.Short)
	}
	if f.Long != "" {
		parts = append(parts, "--"+f.Long)
	}
	s := strings.Join(parts, ", ")
	if f.Arg != "" {
		s += " " + f.Arg
	}
	return s
}

func helpCmd() *Command {
	return &Command{
		Name:     "help",
		Aliases:  []string{"h"},
		Synopsis: "help [COMMAND]",
		Summary:  "list commands, or show one command's manual",
		Description: "Without an argument, lists every command. With one, shows its synopsis, " +
			"description, flags and examples.",
		Examples: []string{"help", "help ps"},
		Complete: ArgCommand,
		NoKernel: true,
		Run: func(s *Session, inv *Invocation) (Result, error) {
			if len(inv.Args) == 0 {
				var hl helpList
				for _, c := range s.table.cmds {
					hl.Commands = append(hl.Commands, helpEntry{c.Name, c.Aliases, c.Synopsis, c.Summary})
				}
				sort.Slice(hl.Commands, func(i, j int) bool { return hl.Commands[i].Name < hl.Commands[j].Name })
				return hl, nil
			}
			c := s.table.lookup(inv.Args[0])
			if c == nil {
				return nil, fmt.Errorf("no command %q (try 'help')", inv.Args[0])
			}
			return helpPage{c.Name, c.Aliases, c.Summary, c.Synopsis, c.Description, c.Flags, c.Examples}, nil
		},
	}
}

// textLines is a Result that is plain lines of text; its JSON is {"lines": [...]}.
type textLines struct {
	Lines []string `json:"lines"`
}

func (t textLines) Text(w io.Writer, s *Session) error {
	for _, l := range t.Lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

func aliasCmd() *Command {
	return &Command{
		Name:     "alias",
		Synopsis: "alias [NAME [COMMAND...]]",
		Summary:  "define a command alias, or list the aliases",
		Description: "alias NAME COMMAND makes NAME run COMMAND followed by whatever arguments NAME is given. " +
			"Without arguments, lists the aliases.",
		Examples: []string{"alias pl ps -l", "pl 1"},
		NoKernel: true,
		Run: func(s *Session, inv *Invocation) (Result, error) {
			if len(inv.Args) == 0 {
				var names []string
				for n := range s.aliases {
					names = append(names, n)
				}
				sort.Strings(names)
				var t textLines
				for _, n := range names {
					t.Lines = append(t.Lines, fmt.Sprintf("%-12s %s", n, s.aliases[n]))
				}
				return t, nil
			}
			name := inv.Args[0]
			if len(inv.Args) == 1 {
				v, ok := s.aliases[name]
				if !ok {
					return nil, fmt.Errorf("no alias %q", name)
				}
				return textLines{[]string{fmt.Sprintf("%-12s %s", name, v)}}, nil
			}
			if s.table.lookup(name) != nil {
				return nil, fmt.Errorf("%q is a command; an alias may not hide it", name)
			}
			// Take the alias text from the raw line so flags are kept as typed.
			_, rest, _ := strings.Cut(inv.Line, name)
			s.aliases[name] = strings.TrimSpace(rest)
			return nil, nil
		},
	}
}
