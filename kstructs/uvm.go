package kstructs

import (
	"errors"
	"fmt"

	"github.com/kinspect/kinspect/dump"
)

// UserSpace is one mm's user address space: its VMAs and its page tables,
// walked by the dump package's translator for the architecture from the
// mm's own pgd.
type UserSpace struct {
	MM *MM
	tr dump.Translator
	k  *Kernel
}

// UserSpace opens the address space of mm (an mm_struct). The VMAs read
// before a corrupt tree stops the walk are kept, with the error.
func (k *Kernel) UserSpace(mm uint64) (*UserSpace, error) {
	m, err := k.ReadMM(mm)
	if m == nil {
		return nil, err
	}
	if m.PGD == 0 {
		return nil, fmt.Errorf("mm %#x: pgd is NULL", mm)
	}
	pgd, terr := k.Trans.Translate(m.PGD)
	if terr != nil {
		return nil, fmt.Errorf("mm %#x: pgd %#x: %w", mm, m.PGD, terr)
	}
	tr, terr := dump.NewUserTranslator(k.Dump, k.Trans.Layout(), pgd)
	if terr != nil {
		return nil, fmt.Errorf("mm %#x: %w", mm, terr)
	}
	return &UserSpace{MM: m, tr: tr, k: k}, err
}

// Translate is the physical address of user address va, or an error
// wrapping dump.ErrNotMapped when no page is present there.
func (u *UserSpace) Translate(va uint64) (uint64, error) { return u.tr.Translate(va) }

// Tables calls seen with each page table (level, physical address) the
// walk of user address va reads, top level first.
func (u *UserSpace) Tables(va uint64, seen func(level string, table uint64)) error {
	return dump.PageTables(u.tr, va, seen)
}

// UserPage is one page of a VMA as crash's vm -p shows it: present at a
// physical address, else backed by the VMA's file at an offset, else not
// mapped.
type UserPage struct {
	Virt     uint64
	Phys     uint64
	Present  bool
	File     string // the VMA's file, for a page not present
	Offset   uint64 // in File: (vm_pgoff + page index) pages
	ReadErr  error  // a page table could not be read (the page is reported not mapped)
	NotInMap bool   // neither present nor file-backed
}

// Pages lists every page of v (crash's vm_area_page_dump).
func (u *UserSpace) Pages(v *VMA) []UserPage {
	ps := u.k.PageSize()
	var out []UserPage
	for va := v.Start; va < v.End; va += ps {
		p := UserPage{Virt: va}
		pa, err := u.tr.Translate(va)
		switch {
		case err == nil:
			p.Phys, p.Present = pa, true
		case v.File != 0 && v.Path != "":
			p.File, p.Offset = v.Path, ((va-v.Start)/ps+v.PgOff)*ps
		default:
			p.NotInMap = true
		}
		if err != nil && !errors.Is(err, dump.ErrNotMapped) {
			p.ReadErr = err
		}
		out = append(out, p)
	}
	return out
}

// ReadUser reads user memory at va (within one page).
func (u *UserSpace) ReadUser(p []byte, va uint64) error {
	pa, err := u.tr.Translate(va)
	if err != nil {
		return err
	}
	return u.k.Dump.ReadPhys(p, pa)
}
