package layer

import (
	"archive/tar"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"golang.org/x/sys/unix"
)

// capNetBindService is a security.capability value (VFS_CAP_REVISION_2,
// effective) granting CAP_NET_BIND_SERVICE.
func capNetBindService() string {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], 0x02000000|1)
	binary.LittleEndian.PutUint32(b[4:], 1<<unix.CAP_NET_BIND_SERVICE)
	return string(b)
}

func TestExtractKeepsMetadata(t *testing.T) {
	needRoot(t)
	dst := t.TempDir()
	suid := reg("usr/bin/su", "su", 0o4755)
	suid.hdr.Uid, suid.hdr.Gid = 1000, 1001
	capped := reg("usr/bin/ping", "ping", 0o755)
	capped.hdr.PAXRecords = map[string]string{
		"SCHILY.xattr.security.capability": capNetBindService(),
		"SCHILY.xattr.user.test":           "v",
	}
	tr := mkTar(t,
		dirEnt("./", 0o755),
		dirEnt("usr/", 0o755), dirEnt("usr/bin/", 0o750),
		suid, capped,
		linkEnt("usr/bin/su2", "usr/bin/su"),
		symEnt("usr/bin/abs", "/usr/bin/su"),
		tarEntry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o620, ModTime: epoch}},
		reg("etc/.wh.gone", "", 0o600),
		dirEnt("opq/", 0o700), reg("opq/.wh..wh..opq", "", 0o600), reg("opq/new", "n", 0o644),
	)
	if err := Extract(context.Background(), tr, dst, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	st := lstat(t, filepath.Join(dst, "usr/bin/su"))
	if st.Mode != unix.S_IFREG|0o4755 || st.Uid != 1000 || st.Gid != 1001 || st.Nlink != 2 {
		t.Errorf("usr/bin/su: mode %o uid %d gid %d nlink %d", st.Mode, st.Uid, st.Gid, st.Nlink)
	}
	if st.Mtim.Sec != epoch.Unix() {
		t.Errorf("usr/bin/su mtime %d, want %d", st.Mtim.Sec, epoch.Unix())
	}
	if got := getxattr(t, filepath.Join(dst, "usr/bin/ping"), "security.capability"); got != capNetBindService() {
		t.Errorf("security.capability = %x", got)
	}
	if got := getxattr(t, filepath.Join(dst, "usr/bin/ping"), "user.test"); got != "v" {
		t.Errorf("user.test = %q", got)
	}
	if target, _ := os.Readlink(filepath.Join(dst, "usr/bin/abs")); target != "/usr/bin/su" {
		t.Errorf("symlink target %q", target)
	}
	if st := lstat(t, filepath.Join(dst, "usr/bin")); st.Mode != unix.S_IFDIR|0o750 || st.Mtim.Sec != epoch.Unix() {
		t.Errorf("usr/bin: mode %o mtime %d (dir times must survive their children)", st.Mode, st.Mtim.Sec)
	}
	if st := lstat(t, filepath.Join(dst, "run/fifo")); st.Mode != unix.S_IFIFO|0o620 {
		t.Errorf("run/fifo: mode %o", st.Mode)
	}
	if st := lstat(t, filepath.Join(dst, "etc/gone")); st.Mode != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/gone: mode %o rdev %d, want an overlay whiteout", st.Mode, st.Rdev)
	}
	if got := getxattr(t, filepath.Join(dst, "opq"), "trusted.overlay.opaque"); got != "y" {
		t.Errorf("opq: trusted.overlay.opaque = %q", got)
	}
	if _, err := os.Lstat(filepath.Join(dst, ".wh.gone")); !os.IsNotExist(err) {
		t.Error("a .wh. file was extracted literally")
	}
}

// TestExtractDeleteMode flattens two layers: whiteouts and opaque markers
// delete what they hide from the first, but never the second's own entries.
func TestExtractDeleteMode(t *testing.T) {
	needRoot(t)
	dst := t.TempDir()
	opts := ExtractOptions{Whiteouts: WhiteoutsDelete}
	lower := mkTar(t, reg("etc/gone", "x", 0o644), reg("etc/kept", "x", 0o644),
		reg("opq/old", "o", 0o644), reg("opq/sub/old", "o", 0o644), reg("dir/deep/f", "f", 0o644))
	if err := Extract(context.Background(), lower, dst, opts); err != nil {
		t.Fatal(err)
	}
	upper := mkTar(t,
		reg("etc/.wh.gone", "", 0o600),
		reg("etc/same", "s", 0o644), reg("etc/.wh.same", "", 0o600), // own entry: must stay
		reg(".wh.dir", "", 0o600),
		reg("opq/sub/new", "n", 0o644), reg("opq/.wh..wh..opq", "", 0o600),
		reg(".wh.missing", "", 0o600),
	)
	if err := Extract(context.Background(), upper, dst, opts); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dst, p)
			got = append(got, rel)
		}
		return err
	})
	want := []string{"etc/kept", "etc/same", "opq/sub/new"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files after flattening (-want +got):\n%s", diff)
	}
}
