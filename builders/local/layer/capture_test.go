package layer

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// treeNames is the layer listing of makeTree: depth first in name order,
// whiteouts before their siblings, the socket left out.
var treeNames = []string{
	"a/", "a/.wh.gone", "a/b/", "a/b/file1", "a/big", "a/hl", "a/link", "a/zz",
	"bin/", "bin/su", "empty/", "opq/", "opq/.wh..wh..opq", "opq/f", "run/", "run/fifo", "top.txt",
}

// makeTree builds an upper dir as overlay would leave it, creating entries
// in the given or reversed order (so inode and readdir order differ), with
// every mtime set to mtime.
func makeTree(t testing.TB, dir string, mtime time.Time, reverse bool) string {
	t.Helper()
	big := strings.Repeat("compressible line of text for the big file\n", 40000)
	ops := []func(){
		func() { writeFile(t, filepath.Join(dir, "top.txt"), "top", 0o644) },
		func() { writeFile(t, filepath.Join(dir, "a/b/file1"), "one", 0o640) },
		func() { writeFile(t, filepath.Join(dir, "a/big"), big, 0o644) },
		func() { writeFile(t, filepath.Join(dir, "a/zz"), "zz", 0o600) },
		func() { writeFile(t, filepath.Join(dir, "bin/su"), "su", 0o4755) },
		func() { writeFile(t, filepath.Join(dir, "opq/f"), "f", 0o644) },
		func() { must(t, os.Symlink("../top.txt", filepath.Join(dir, "a/link"))) },
		func() { must(t, unix.Mkfifo(filepath.Join(dir, "run/fifo"), 0o600)) },
		func() { must(t, unix.Mknod(filepath.Join(dir, "a/gone"), unix.S_IFCHR, 0)) },
		func() { must(t, unix.Mknod(filepath.Join(dir, "s.sock"), unix.S_IFSOCK|0o644, 0)) },
	}
	if reverse {
		slices.Reverse(ops)
	}
	dirs := []string{"a/b", "bin", "opq", "empty", "run"}
	if reverse {
		slices.Reverse(dirs)
	}
	for _, d := range dirs {
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	for _, op := range ops {
		op()
	}
	must(t, os.Link(filepath.Join(dir, "top.txt"), filepath.Join(dir, "a/hl")))
	must(t, os.Chown(filepath.Join(dir, "bin/su"), 1000, 1000))
	must(t, unix.Chmod(filepath.Join(dir, "bin/su"), 0o4755)) // chown cleared setuid
	must(t, unix.Lsetxattr(filepath.Join(dir, "top.txt"), "user.test", []byte("v"), 0))
	must(t, unix.Lsetxattr(filepath.Join(dir, "opq"), "trusted.overlay.opaque", []byte("y"), 0))
	must(t, unix.Lsetxattr(filepath.Join(dir, "a"), "trusted.overlay.impure", []byte("y"), 0))
	ts := unix.NsecToTimespec(mtime.UnixNano())
	must(t, filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	}))
	return dir
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func capture(t testing.TB, dir, blob, compression string) (v1.Layer, []string) {
	t.Helper()
	var warnings []string
	l, err := Capture(context.Background(), dir, CaptureOptions{
		Path: blob, SourceDateEpoch: epoch, Compression: compression,
		Warn: func(s string) { warnings = append(warnings, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return l, warnings
}

func digests(t testing.TB, l v1.Layer) string {
	d, err := l.Digest()
	must(t, err)
	id, err := l.DiffID()
	must(t, err)
	return d.String() + " " + id.String()
}

// TestCaptureIsDeterministic captures one tree twice (once on one core) and
// a copy built in another order with other mtimes, all newer than the epoch.
func TestCaptureIsDeterministic(t *testing.T) {
	needRoot(t)
	for _, comp := range []string{Gzip, Zstd} {
		t.Run(comp, func(t *testing.T) {
			base := t.TempDir()
			t1 := makeTree(t, filepath.Join(base, "t1"), epoch.Add(time.Hour), false)
			t2 := makeTree(t, filepath.Join(base, "t2"), epoch.Add(48*time.Hour), true)
			l1, warnings := capture(t, t1, filepath.Join(base, "l1"), comp)
			l2, _ := capture(t, t2, filepath.Join(base, "l2"), comp)
			prev := runtime.GOMAXPROCS(1)
			l3, _ := capture(t, t1, filepath.Join(base, "l3"), comp)
			runtime.GOMAXPROCS(prev)
			d1, d2, d3 := digests(t, l1), digests(t, l2), digests(t, l3)
			if d1 != d2 || d1 != d3 {
				t.Errorf("digests differ:\n%s\n%s (copy)\n%s (one core)", d1, d2, d3)
			}
			checkHashes(t, l1)
			if len(warnings) != 1 || !strings.Contains(warnings[0], "s.sock") {
				t.Errorf("warnings = %q, want one about s.sock", warnings)
			}
			checkTreeLayer(t, l1)
		})
	}
}

// checkHashes re-reads the blob to check the digest, diffID and size that
// Capture computed on the fly. (go-containerregistry's validate package would
// do it, but pulls in modules this repository does not carry.)
func checkHashes(t *testing.T, l v1.Layer) {
	t.Helper()
	for _, tc := range []struct {
		name string
		open func() (io.ReadCloser, error)
		want func() (v1.Hash, error)
	}{{"digest", l.Compressed, l.Digest}, {"diffID", l.Uncompressed, l.DiffID}} {
		rc, err := tc.open()
		must(t, err)
		got, n, err := v1.SHA256(rc)
		must(t, err)
		must(t, rc.Close())
		want, err := tc.want()
		must(t, err)
		if got != want {
			t.Errorf("%s: layer says %s, content hashes to %s", tc.name, want, got)
		}
		if size, _ := l.Size(); tc.name == "digest" && size != n {
			t.Errorf("size: layer says %d, blob has %d bytes", size, n)
		}
	}
}

func checkTreeLayer(t *testing.T, l v1.Layer) {
	hdrs, bodies := readLayer(t, l)
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
		// PAX headers without records read back as USTAR: same bytes.
		if h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(epoch) || h.Format&(tar.FormatPAX|tar.FormatUSTAR) == 0 {
			t.Errorf("%s: uname %q gname %q mtime %v format %v", h.Name, h.Uname, h.Gname, h.ModTime, h.Format)
		}
		for k := range h.PAXRecords {
			if strings.Contains(k, ".overlay.") {
				t.Errorf("%s: overlay xattr %s reached the layer", h.Name, k)
			}
		}
	}
	if diff := cmp.Diff(treeNames, names); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
	if h := headerByName(hdrs, "top.txt"); h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "a/hl" {
		t.Errorf("top.txt = %+v, want a hardlink to a/hl", h)
	}
	if h := headerByName(hdrs, "a/hl"); h == nil || h.PAXRecords["SCHILY.xattr.user.test"] != "v" || bodies["a/hl"] != "top" {
		t.Errorf("a/hl = %+v, want the file with xattr user.test", h)
	}
	if h := headerByName(hdrs, "bin/su"); h == nil || h.Mode != 0o4755 || h.Uid != 1000 || h.Gid != 1000 {
		t.Errorf("bin/su = %+v, want mode 4755 owned by 1000:1000", h)
	}
	if h := headerByName(hdrs, "a/link"); h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "../top.txt" {
		t.Errorf("a/link = %+v", h)
	}
}

// TestCaptureReadableByTar checks the blobs with GNU tar, an independent
// reader of both compressions.
func TestCaptureReadableByTar(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar on PATH")
	}
	base := t.TempDir()
	tree := makeTree(t, filepath.Join(base, "tree"), epoch.Add(time.Hour), false)
	for _, tc := range []struct{ comp, flag, tool string }{{Gzip, "-z", "gzip"}, {Zstd, "--zstd", "zstd"}} {
		t.Run(tc.comp, func(t *testing.T) {
			if _, err := exec.LookPath(tc.tool); err != nil {
				t.Skipf("no %s on PATH for tar %s", tc.tool, tc.flag)
			}
			blob := filepath.Join(base, tc.comp)
			capture(t, tree, blob, tc.comp)
			out, err := exec.Command("tar", tc.flag, "-tvf", blob).CombinedOutput()
			if err != nil {
				t.Fatalf("tar -tv: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != len(treeNames) {
				t.Fatalf("tar lists %d entries, want %d:\n%s", len(lines), len(treeNames), out)
			}
			for i, want := range treeNames {
				if !strings.Contains(lines[i], " "+want) {
					t.Errorf("line %d %q, want entry %s", i, lines[i], want)
				}
			}
			if !strings.Contains(string(out), "top.txt link to a/hl") {
				t.Errorf("tar does not see the hardlink:\n%s", out)
			}
		})
	}
}
