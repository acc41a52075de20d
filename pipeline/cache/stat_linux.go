//go:build linux

package cache

import (
	"io/fs"
	"syscall"
)

// statOf extracts what the stat cache compares. On Linux every field is
// available; ok is false only for infos that do not come from the OS.
func statOf(fi fs.FileInfo) (st fileStat, ok bool) {
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStat{}, false
	}
	return fileStat{
		Size:  fi.Size(),
		Mtime: sys.Mtim.Nano(),
		Ctime: sys.Ctim.Nano(),
		Ino:   sys.Ino,
		Dev:   uint64(sys.Dev),
	}, true
}
