package dump

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// MismatchError says that layout discovery failed because the dump was
// written by another kernel than the vmlinux: the page tables, KASLR
// offsets and variables discovery reads are then the wrong kernel's, and
// the error they give (an unmapped banner, an implausible
// page_offset_base) would only mislead. Err is that discovery error.
type MismatchError struct {
	DumpBanner  string // a linux_banner found in the dump (or "Linux version " + VMCOREINFO's OSRELEASE)
	ImageBanner string // the vmlinux's linux_banner
	Err         error
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("the vmlinux probably does not match the dump: the dump's kernel is %q, the vmlinux's %q (%v)",
		bannerRelease(e.DumpBanner), bannerRelease(e.ImageBanner), e.Err)
}

func (e *MismatchError) Unwrap() error { return e.Err }

// bannerPrefix starts every linux_banner ("Linux version RELEASE (builder) ...").
const bannerPrefix = "Linux version "

// bannerRelease returns the release of a banner: the word after "Linux
// version ".
func bannerRelease(b string) string {
	rest, ok := strings.CutPrefix(b, bannerPrefix)
	if !ok {
		return b
	}
	if i := strings.IndexByte(rest, ' '); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// mismatch explains a failed discovery when the dump's kernel is not the
// vmlinux's: the dump's VMCOREINFO names a different OSRELEASE, or none of
// the banners in its memory is the vmlinux's. It returns nil when they
// may well be the same kernel (or there is nothing to compare), leaving
// the discovery error as it is.
func (d *discoverer) mismatch(cause error) error {
	img := d.hints.Banner
	if i := bytes.IndexByte(img, 0); i >= 0 {
		img = img[:i]
	}
	imgBanner := strings.TrimRight(string(img), "\n")
	if !strings.HasPrefix(imgBanner, bannerPrefix) {
		return nil
	}
	imgRelease := bannerRelease(imgBanner)
	if d.in.vmci != nil {
		if rel, ok := d.in.vmci.Get("OSRELEASE"); ok && rel != "" {
			if rel == imgRelease {
				return nil
			}
			dumpBanner := bannerPrefix + rel
			// The image may hold a template copy too ("# SMP" where the
			// banner has "#1 SMP"): the longest is the real one.
			for _, b := range d.findBanners([]byte(bannerPrefix+rel+" "), 4) {
				if len(b) > len(dumpBanner) {
					dumpBanner = b
				}
			}
			return &MismatchError{DumpBanner: dumpBanner, ImageBanner: imgBanner, Err: cause}
		}
	}
	// No VMCOREINFO: the banner is in the image, and the log's first
	// record repeats it. If any copy is the vmlinux's, the kernels may
	// match and the discovery error stands.
	found := d.findBanners([]byte(bannerPrefix), 16)
	if len(found) == 0 || slices.Contains(found, imgBanner) {
		return nil
	}
	for _, b := range found {
		if bannerRelease(b) == imgRelease {
			return nil // same release, other build: let the discovery error speak
		}
	}
	return &MismatchError{DumpBanner: found[0], ImageBanner: imgBanner, Err: cause}
}

// findBanners returns up to limit distinct banner texts starting with pat
// in physical memory, lowest address first. Unreadable parts are skipped;
// the scan stops at limit.
func (d *discoverer) findBanners(pat []byte, limit int) []string {
	ranges := d.in.ranges
	const chunk = 1 << 20
	const maxLen = 512 // a banner's length bound
	buf := make([]byte, chunk+maxLen)
	var out []string
	for _, r := range ranges {
		for base := r.Start; base < r.End(); base += chunk {
			n := min(uint64(len(buf)), r.End()-base)
			b := buf[:n]
			if err := d.in.mem.ReadPhys(b, base); err != nil {
				continue
			}
			for off := 0; off < int(min(n, chunk)); {
				i := bytes.Index(b[off:], pat)
				if i < 0 || off+i >= chunk {
					break
				}
				s := b[off+i:]
				// The image's copy ends in a newline and NUL; the log's
				// copy in whatever the ring buffer holds next.
				end := len(pat)
				for end < len(s) && s[end] >= 0x20 && s[end] <= 0x7e {
					end++
				}
				text := string(s[:end])
				// A real banner names its builder: "RELEASE (user@host)".
				if strings.Contains(text, " (") && !slices.Contains(out, text) {
					out = append(out, text)
					if len(out) >= limit {
						return out
					}
				}
				off += i + len(pat)
			}
		}
	}
	return out
}
