package layer

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// mountOverlay mounts an overlay on merged and unmounts it at test end. It
// skips (or fails under PIPE_REQUIRE_INTEGRATION=1) when overlayfs is
// unavailable. upper may be empty for a read-only stack of lowers.
func mountOverlay(t *testing.T, merged, upper, work string, lowers ...string) func() {
	t.Helper()
	opts := "lowerdir=" + strings.Join(lowers, ":")
	if upper != "" {
		opts += ",upperdir=" + upper + ",workdir=" + work
	}
	opts += ",redirect_dir=off,metacopy=off"
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		skipOrFail(t, "overlayfs unavailable: mount "+opts+": "+err.Error())
	}
	mounted := true
	unmount := func() {
		if mounted {
			mounted = false
			if err := unix.Unmount(merged, 0); err != nil {
				t.Errorf("unmount %s: %v", merged, err)
				unix.Unmount(merged, unix.MNT_DETACH)
			}
		}
	}
	t.Cleanup(unmount)
	return unmount
}

func mkdirs(t *testing.T, base string, names ...string) []string {
	var out []string
	for _, n := range names {
		p := filepath.Join(base, n)
		must(t, os.MkdirAll(p, 0o755))
		out = append(out, p)
	}
	return out
}

// TestOverlayRoundTrip changes a merged overlay the way a provisioner would,
// captures the upper dir, checks the layer, then stacks the layer extracted
// as a second lower over the first and checks the merged view.
func TestOverlayRoundTrip(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	base := t.TempDir()
	d := mkdirs(t, base, "lower1", "upper", "work", "merged")
	lower1, upper, work, merged := d[0], d[1], d[2], d[3]
	base0 := mkTar(t, dirEnt("etc/", 0o755), reg("etc/keep", "keep", 0o644), reg("etc/remove-me", "x", 0o644),
		dirEnt("opt/", 0o755), dirEnt("opt/dir/", 0o755), reg("opt/dir/a", "a", 0o644), reg("opt/dir/b", "b", 0o644),
		dirEnt("bin/", 0o755), reg("bin/tool", "tool", 0o755))
	must(t, Extract(ctx, base0, lower1, ExtractOptions{}))

	unmount := mountOverlay(t, merged, upper, work, lower1)
	provision(t, merged)
	unmount()
	// The upper dir really holds overlay's encodings, so the layer checks
	// below test their translation.
	if got := getxattr(t, filepath.Join(upper, "opt/dir"), "trusted.overlay.opaque"); got != "y" {
		t.Fatalf("upper opt/dir: trusted.overlay.opaque = %q, want y", got)
	}
	if st := lstat(t, filepath.Join(upper, "etc/remove-me")); st.Mode != unix.S_IFCHR || st.Rdev != 0 {
		t.Fatalf("upper etc/remove-me: mode %o rdev %d, want a whiteout", st.Mode, st.Rdev)
	}

	var warnings []string
	l, err := Capture(ctx, upper, CaptureOptions{Path: filepath.Join(base, "layer.tgz"), SourceDateEpoch: epoch,
		Warn: func(s string) { warnings = append(warnings, s) }})
	must(t, err)
	checkProvisionedLayer(t, l)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "etc/sock") {
		t.Errorf("warnings = %q, want one about the socket etc/sock", warnings)
	}

	lower2 := filepath.Join(base, "lower2")
	must(t, ExtractLayer(ctx, l, lower2, ExtractOptions{}))
	merged2 := mkdirs(t, base, "merged2")[0]
	mountOverlay(t, merged2, "", "", lower2, lower1)
	checkMergedView(t, merged2)
}

// provision makes the changes of a typical stage in the merged dir.
func provision(t *testing.T, merged string) {
	p := func(rel string) string { return filepath.Join(merged, rel) }
	must(t, os.Remove(p("etc/remove-me")))
	must(t, os.RemoveAll(p("opt/dir")))
	must(t, os.Mkdir(p("opt/dir"), 0o755))
	writeFile(t, p("opt/dir/new"), "new", 0o644)
	writeFile(t, p("etc/added"), "added", 0o644)
	must(t, os.Chmod(p("bin/tool"), 0o700))
	must(t, unix.Setxattr(p("etc/added"), "user.test", []byte("hello"), 0))
	writeFile(t, p("etc/h1"), "linked", 0o644)
	must(t, os.Link(p("etc/h1"), p("etc/h2")))
	must(t, unix.Mknod(p("etc/sock"), unix.S_IFSOCK|0o644, 0))
}

func checkProvisionedLayer(t *testing.T, l v1.Layer) {
	hdrs, bodies := readLayer(t, l)
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
		for k := range h.PAXRecords {
			if strings.Contains(k, "overlay.") {
				t.Errorf("%s: overlay xattr %s reached the layer", h.Name, k)
			}
		}
	}
	want := []string{
		"bin/", "bin/tool",
		"etc/", "etc/.wh.remove-me", "etc/added", "etc/h1", "etc/h2",
		"opt/", "opt/dir/", "opt/dir/.wh..wh..opq", "opt/dir/new",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
	if h := headerByName(hdrs, "etc/h2"); h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "etc/h1" {
		t.Errorf("etc/h2 = %+v, want a hardlink to etc/h1", h)
	}
	if h := headerByName(hdrs, "etc/added"); h == nil || h.PAXRecords["SCHILY.xattr.user.test"] != "hello" || bodies["etc/added"] != "added" {
		t.Errorf("etc/added = %+v, want body and xattr user.test", h)
	}
	if h := headerByName(hdrs, "bin/tool"); h == nil || h.Mode != 0o700 {
		t.Errorf("bin/tool = %+v, want mode 0700", h)
	}
}

func checkMergedView(t *testing.T, merged string) {
	p := func(rel string) string { return filepath.Join(merged, rel) }
	if _, err := os.Lstat(p("etc/remove-me")); !os.IsNotExist(err) {
		t.Errorf("etc/remove-me still visible: %v", err)
	}
	for rel, want := range map[string]string{"etc/keep": "keep", "etc/added": "added", "opt/dir/new": "new", "etc/h2": "linked"} {
		if b, err := os.ReadFile(p(rel)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", rel, b, err, want)
		}
	}
	names, err := readDirNames(p("opt/dir"))
	must(t, err)
	if diff := cmp.Diff([]string{"new"}, names); diff != "" {
		t.Errorf("opt/dir is not opaque (-want +got):\n%s", diff)
	}
	if st := lstat(t, p("bin/tool")); st.Mode&0o7777 != 0o700 {
		t.Errorf("bin/tool mode %o, want 700", st.Mode&0o7777)
	}
	if got := getxattr(t, p("etc/added"), "user.test"); got != "hello" {
		t.Errorf("etc/added user.test = %q", got)
	}
	if lstat(t, p("etc/h1")).Ino != lstat(t, p("etc/h2")).Ino {
		t.Error("etc/h1 and etc/h2 are not one inode")
	}
	if _, err := os.Lstat(p("etc/sock")); !os.IsNotExist(err) {
		t.Errorf("etc/sock visible: %v", err)
	}
}
