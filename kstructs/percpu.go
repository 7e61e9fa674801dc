package kstructs

import (
	"debug/dwarf"
	"fmt"
	"math/bits"

	"github.com/kinspect/kinspect/dump"
	"github.com/kinspect/kinspect/dwarfx"
)

// perCPU holds what per-cpu variable resolution needs, read once.
type perCPU struct {
	offsets  []uint64 // __per_cpu_offset[cpu]; a single 0 on UP kernels
	possible []int    // CPUs in cpu_possible_mask, ascending
	present  []int
	online   []int
}

func archOf(img *dwarfx.Image) dump.Arch { return dump.ArchFromELFMachine(uint16(img.Machine())) }

func (k *Kernel) loadPerCPU() (*perCPU, error) {
	k.percpuOnce.Do(func() { k.percpu, k.percpuErr = k.readPerCPU() })
	return k.percpu, k.percpuErr
}

func (k *Kernel) readPerCPU() (*perCPU, error) {
	pc := &perCPU{}
	var err error
	// ARM kernels mark the CPUs they stopped at panic time offline, so the
	// per-cpu walks use the possible mask; online is reported separately.
	if pc.possible, err = k.cpuMask("__cpu_possible_mask", "cpu_possible_mask"); err != nil {
		return nil, err
	}
	pc.present, _ = k.cpuMask("__cpu_present_mask", "cpu_present_mask")
	pc.online, _ = k.cpuMask("__cpu_online_mask", "cpu_online_mask")

	v, err := k.Image.Variable("__per_cpu_offset")
	if err != nil {
		// UP kernels have no __per_cpu_offset: per-cpu data is the variable itself.
		pc.offsets = []uint64{0}
		if len(pc.possible) == 0 {
			pc.possible = []int{0}
		}
		return pc, nil
	}
	n := 0
	if at, ok := v.Type.(*dwarf.ArrayType); ok {
		n = int(at.Count)
	}
	if n <= 0 {
		n = 1
		for _, c := range pc.possible {
			n = max(n, c+1)
		}
	}
	ps := k.PtrSize()
	buf := make([]byte, n*ps)
	if err := k.ReadVirt(buf, v.Addr); err != nil {
		return nil, fmt.Errorf("reading __per_cpu_offset: %w", err)
	}
	bo := k.Image.ByteOrder()
	for i := 0; i < n; i++ {
		pc.offsets = append(pc.offsets, dwarfx.DecodeUint(bo, buf[i*ps:][:ps]))
	}
	if len(pc.possible) == 0 {
		pc.possible = []int{0}
	}
	return pc, nil
}

// cpuMask reads a struct cpumask variable (trying each name) into CPU numbers.
func (k *Kernel) cpuMask(names ...string) ([]int, error) {
	var lastErr error
	for _, name := range names {
		v, err := k.Image.Variable(name)
		if err != nil {
			lastErr = err
			continue
		}
		size := v.Type.Size()
		if size <= 0 || size > 1<<16 {
			return nil, fmt.Errorf("%s has an implausible size %d", name, size)
		}
		buf := make([]byte, size)
		if err := k.ReadVirt(buf, v.Addr); err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		var cpus []int
		ps := k.PtrSize()
		bo := k.Image.ByteOrder()
		for w := 0; w+ps <= len(buf); w += ps {
			word := dwarfx.DecodeUint(bo, buf[w:][:ps])
			for word != 0 {
				b := bits.TrailingZeros64(word)
				cpus = append(cpus, w*8+b)
				word &^= 1 << b
			}
		}
		return cpus, nil
	}
	return nil, lastErr
}

// PossibleCPUs lists the CPUs of cpu_possible_mask: the ones with per-cpu data.
func (k *Kernel) PossibleCPUs() ([]int, error) {
	pc, err := k.loadPerCPU()
	if err != nil {
		return nil, err
	}
	return pc.possible, nil
}

// OnlineCPUs lists cpu_online_mask as it was at the time of the dump.
func (k *Kernel) OnlineCPUs() ([]int, error) {
	pc, err := k.loadPerCPU()
	if err != nil {
		return nil, err
	}
	return pc.online, nil
}

// NrCPUs is the number of possible CPUs (what crash's CPUS line shows).
func (k *Kernel) NrCPUs() int {
	pc, err := k.loadPerCPU()
	if err != nil || len(pc.possible) == 0 {
		return len(k.Dump.CPUs())
	}
	return len(pc.possible)
}

// PerCPUOffset returns __per_cpu_offset[cpu].
func (k *Kernel) PerCPUOffset(cpu int) (uint64, error) {
	pc, err := k.loadPerCPU()
	if err != nil {
		return 0, err
	}
	if cpu < 0 || cpu >= len(pc.offsets) {
		return 0, fmt.Errorf("cpu %d out of range (the kernel has %d per-cpu areas)", cpu, len(pc.offsets))
	}
	return pc.offsets[cpu], nil
}

// PerCPU relocates a per-cpu variable's value to cpu's copy: the address of
// per_cpu(var, cpu) is &var + __per_cpu_offset[cpu].
func (k *Kernel) PerCPU(v dwarfx.Value, cpu int) (dwarfx.Value, error) {
	addr, ok := v.Addr()
	if !ok {
		return dwarfx.Value{}, fmt.Errorf("per-cpu access needs a variable with an address")
	}
	off, err := k.PerCPUOffset(cpu)
	if err != nil {
		return dwarfx.Value{}, err
	}
	return dwarfx.NewValueAt(v.Type(), addr+off), nil
}

// Env returns an expression environment bound to this kernel.
func (k *Kernel) Env() *dwarfx.Env {
	return &dwarfx.Env{Img: k.Image, Mem: k.memory(), PerCPU: k.PerCPU, NrCPUs: k.NrCPUs}
}
