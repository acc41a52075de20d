package layer

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// extractor holds the state of one Extract call. All paths it touches are
// reached from rootFD with *at system calls that never follow symlinks.
type extractor struct {
	opts   ExtractOptions
	warn   func(string)
	root   *os.Root // removal of whole subtrees, confined to dst
	rootFD int
	// seen holds every path this layer created, with its ancestors, in delete
	// mode: a whiteout must not hide its own layer's entries.
	seen map[string]bool
	dirs []dirTime
	buf  []byte
	// cacheRel/cacheFD keep the parent dir of the last entry open: tar
	// entries come grouped by directory.
	cacheRel string
	cacheFD  int
}

// dirTime is a directory mtime applied at the end, since creating the
// directory's children changes it.
type dirTime struct {
	rel   string
	mtime time.Time
}

func newExtractor(dst string, opts ExtractOptions) (*extractor, error) {
	root, err := os.OpenRoot(dst)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("open %s: %w", dst, err)
	}
	x := &extractor{opts: opts, warn: opts.Warn, root: root, rootFD: fd, cacheFD: -1, buf: make([]byte, 1<<20)}
	if x.warn == nil {
		x.warn = func(string) {}
	}
	if opts.Whiteouts == WhiteoutsDelete {
		x.seen = map[string]bool{}
	}
	return x, nil
}

func (x *extractor) close() {
	x.dropCache()
	unix.Close(x.rootFD)
	x.root.Close()
}

func (x *extractor) dropCache() {
	if x.cacheFD >= 0 {
		unix.Close(x.cacheFD)
	}
	x.cacheRel, x.cacheFD = "", -1
}

// invalidate drops the cached dir if rel, about to be removed, holds it.
func (x *extractor) invalidate(rel string) {
	if x.cacheFD >= 0 && (x.cacheRel == rel || strings.HasPrefix(x.cacheRel, rel+"/")) {
		x.dropCache()
	}
}

// markSeen records rel and its ancestors as written by this layer.
func (x *extractor) markSeen(rel string) {
	if x.seen == nil {
		return
	}
	for rel != "." && rel != "" && !x.seen[rel] {
		x.seen[rel] = true
		rel = path.Dir(rel)
	}
}

// dir returns a descriptor of directory rel, borrowed until the next call.
// With create, missing directories are made (0755, like tar does for
// parents a layer omits).
func (x *extractor) dir(rel string, create bool) (int, error) {
	if rel == "" {
		return x.rootFD, nil
	}
	if x.cacheFD >= 0 && x.cacheRel == rel {
		return x.cacheFD, nil
	}
	fd, err := x.openDir(rel, create)
	if err != nil {
		return -1, err
	}
	x.dropCache()
	x.cacheRel, x.cacheFD = rel, fd
	return fd, nil
}

// openDir returns a new descriptor of directory rel that the caller closes.
// The fast path is one openat2 that the kernel confines to dst and fails on
// any symlink; the slow path walks one component at a time, creating
// missing ones and explaining refusals.
func (x *extractor) openDir(rel string, create bool) (int, error) {
	if rel == "" {
		return unix.Openat(x.rootFD, ".", dirFlags, 0)
	}
	how := unix.OpenHow{
		Flags:   dirFlags,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	if fd, err := unix.Openat2(x.rootFD, rel, &how); err == nil {
		return fd, nil
	}
	cur, done := x.rootFD, ""
	for _, name := range strings.Split(rel, "/") {
		fd, err := openDirAt(cur, name, create)
		if cur != x.rootFD {
			unix.Close(cur)
		}
		done = path.Join(done, name)
		if err != nil {
			return -1, fmt.Errorf("%s: %w", done, err)
		}
		cur = fd
	}
	return cur, nil
}

const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// openDirAt opens (and with create, makes) the directory name in dirfd,
// refusing to follow a symlink.
func openDirAt(dirfd int, name string, create bool) (int, error) {
	fd, err := unix.Openat(dirfd, name, dirFlags, 0)
	if errors.Is(err, unix.ENOENT) && create {
		err = unix.Mkdirat(dirfd, name, 0o755)
		if err == nil || errors.Is(err, unix.EEXIST) {
			fd, err = unix.Openat(dirfd, name, dirFlags, 0)
		}
	}
	if err == nil {
		return fd, nil
	}
	var st unix.Stat_t
	if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			return -1, fmt.Errorf("is a symlink; writing through it is refused: %w", ErrUnsafeEntry)
		case unix.S_IFDIR:
		default:
			return -1, errors.New("not a directory")
		}
	}
	return -1, err
}

// finish applies directory mtimes, deepest last-created first.
func (x *extractor) finish() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		fd, err := x.dir(d.rel, false)
		if errors.Is(err, unix.ENOENT) {
			continue // removed by a later entry of this layer
		}
		if err != nil {
			return fmt.Errorf("set mtime of %q: %w", d.rel, err)
		}
		// "." in the directory itself: a dir's times can be set through
		// its own descriptor without naming it again.
		ts := unix.NsecToTimespec(d.mtime.UnixNano())
		if err := unix.UtimesNanoAt(fd, ".", []unix.Timespec{ts, ts}, 0); err != nil {
			return fmt.Errorf("set mtime of %q: %w", d.rel, err)
		}
	}
	return nil
}
