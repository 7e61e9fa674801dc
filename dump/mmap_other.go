//go:build !unix

package dump

import (
	"errors"
	"os"
)

func mmapFile(f *os.File, size int64) ([]byte, error) {
	return nil, errors.New("memory mapping not supported on this platform")
}

func munmapFile(b []byte) error { return nil }
