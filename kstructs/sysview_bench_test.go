package kstructs_test

import (
	"testing"

	"github.com/kinspect/kinspect/internal/ktest"
)

// BenchmarkDev reads what `dev` and `dev -p` show (chrdevs, major_names
// with their cdev/gendisk operations, the PCI tree) on each fixture, many
// times on one Kernel as a session does.
func BenchmarkDev(b *testing.B) {
	for _, arch := range ktest.Arches {
		b.Run(arch, func(b *testing.B) {
			k, _ := ktest.Open(b, arch, "vmcore.elf")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if c, err := k.CharDevs(); err != nil || len(c) == 0 {
					b.Fatal(len(c), err)
				}
				if _, err := k.BlockDevs(); err != nil {
					b.Fatal(err)
				}
				if _, err := k.PCIBuses(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNetSockets reads what `net` and `net -s PID` show for the
// workload's socket holder (the "files" role) on each fixture.
func BenchmarkNetSockets(b *testing.B) {
	for _, arch := range ktest.Arches {
		b.Run(arch, func(b *testing.B) {
			k, f := ktest.Open(b, arch, "vmcore.elf")
			t, err := k.TaskByPID(f.GT.RolePID("files"))
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if d, err := k.NetDevices(0); err != nil || len(d) == 0 {
					b.Fatal(len(d), err)
				}
				if s, err := k.Sockets(t); err != nil || len(s) == 0 {
					b.Fatal(len(s), err)
				}
			}
		})
	}
}

// BenchmarkSig reads what `sig` shows for init on each fixture.
func BenchmarkSig(b *testing.B) {
	for _, arch := range ktest.Arches {
		b.Run(arch, func(b *testing.B) {
			k, _ := ktest.Open(b, arch, "vmcore.elf")
			t, err := k.TaskByPID(1)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if s, err := k.Signals(t.Addr); err != nil || len(s.Actions) == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}
