//go:build !unix

package dump

// IsDevMem reports whether path is the physical memory device.
func IsDevMem(path string) bool { return path == DevMemPath }
