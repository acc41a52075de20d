package cache

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// File writes key lines for the file or directory at path, named by name
// (usually the path relative to the pipeline file). A regular file gives one
// line "file <name>" = "mode=0644 sha256:<hex>"; a symlink gives
// "symlink -> <target>" and is not followed; a directory gives
// "dir mode=0755" and then a line per entry, walked in lexical order and
// named "file <name>/<relpath>", so that an empty subdirectory, a rename, a
// chmod or a new symlink changes the key. Sockets, devices and pipes are
// errors: their content cannot be keyed.
func (k *Key) File(name, path string) error {
	h := k.st.files
	if h == nil {
		h = NewFileHasher("")
	}
	lines, err := h.keyLines(name, path)
	if err != nil {
		return fmt.Errorf("key file %s: %w", name, err)
	}
	for _, l := range lines {
		k.Add(l.Name, l.Value)
	}
	return nil
}

// keyLines returns the lines File writes, with unprefixed names.
func (h *FileHasher) keyLines(name, path string) ([]Line, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, err
	}
	lineName := "file " + name
	switch mode := fi.Mode(); {
	case mode.IsRegular():
		sum, err := h.hashInfo(abs, fi)
		if err != nil {
			return nil, err
		}
		return []Line{{lineName, regularValue(mode, sum)}}, nil
	case mode.IsDir():
		return h.dirLines(name, abs)
	case mode&fs.ModeSymlink != 0:
		v, err := symlinkValue(abs)
		if err != nil {
			return nil, err
		}
		return []Line{{lineName, v}}, nil
	default:
		return nil, unsupported(abs, mode)
	}
}

// fileJob is a regular file found by the walk whose line value is filled in
// by a hashing worker.
type fileJob struct {
	line int
	path string
	d    fs.DirEntry
}

// dirLines walks root in lexical order, writing directory and symlink lines
// at once and leaving a slot for each regular file, which are then hashed in
// parallel: the order of lines never depends on the order hashes finish.
func (h *FileHasher) dirLines(name, root string) ([]Line, error) {
	var lines []Line
	var jobs []fileJob
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		lineName := "file " + name
		if rel != "." {
			lineName = strings.TrimSuffix(lineName, "/") + "/" + filepath.ToSlash(rel)
		}
		var value string
		switch t := d.Type(); {
		case t.IsRegular():
			jobs = append(jobs, fileJob{line: len(lines), path: p, d: d})
		case t.IsDir():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			value = fmt.Sprintf("dir mode=%04o", unixMode(fi.Mode()))
		case t&fs.ModeSymlink != 0:
			if value, err = symlinkValue(p); err != nil {
				return err
			}
		default:
			return unsupported(p, t)
		}
		lines = append(lines, Line{lineName, value})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lines, h.hashJobs(jobs, lines)
}

// hashJobs fills in the lines of jobs with a bounded pool of workers and
// returns the error of the earliest failing job, so that errors are as
// deterministic as the lines.
func (h *FileHasher) hashJobs(jobs []fileJob, lines []Line) error {
	errs := make([]error, len(jobs))
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(runtime.NumCPU()*2, len(jobs)) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				lines[j.line].Value, errs[i] = h.jobValue(j)
				if errs[i] != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *FileHasher) jobValue(j fileJob) (string, error) {
	// Info is an lstat: done here, in the worker, because on a warm stat
	// cache the stats are all the work there is.
	fi, err := j.d.Info()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: changed type during the walk", j.path)
	}
	sum, err := h.hashInfo(j.path, fi)
	if err != nil {
		return "", err
	}
	return regularValue(fi.Mode(), sum), nil
}

func regularValue(mode fs.FileMode, sum string) string {
	return fmt.Sprintf("mode=%04o %s", unixMode(mode), sum)
}

func symlinkValue(path string) (string, error) {
	target, err := os.Readlink(path)
	if err != nil {
		return "", err
	}
	return "symlink -> " + target, nil
}

func unsupported(path string, mode fs.FileMode) error {
	return fmt.Errorf("%s: unsupported file type %s (only regular files, directories and symlinks can be keyed)", path, mode.Type())
}

// unixMode returns the permission bits with setuid, setgid and sticky in
// their Unix positions, as ls and chmod show them.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}
