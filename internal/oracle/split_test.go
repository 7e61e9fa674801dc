package oracle

import (
	"slices"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	m := func(n string) string { return marker + n + "==\n" }
	tests := []struct {
		name    string
		out     string
		n       int
		want    []string
		wantErr string
	}{
		{"two", "WARNING: start-up\n" + m("0") + "a\nb\n" + m("1") + m("2"), 2, []string{"a\nb\n", ""}, ""},
		{"stopped early", m("0") + "a\n" + m("1") + "crash: fatal\n", 2, nil, "stopped after command 1 of 2"},
		{"out of order", m("0") + m("2"), 2, nil, "out of order"},
		{"no markers", "crash: cannot open\n", 1, nil, "stopped after command -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := split(tt.out, tt.n)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("split: err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("split = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDebArch(t *testing.T) {
	for in, want := range map[string]string{"x86_64": "amd64", "amd64": "amd64", "arm64": "arm64", "arm": "armhf", "armhf": "armhf"} {
		if got, err := debArch(in); err != nil || got != want {
			t.Errorf("debArch(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := debArch("riscv64"); err == nil {
		t.Error("debArch(riscv64): no error")
	}
}
