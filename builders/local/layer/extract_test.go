package layer

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExtractRefusesMaliciousTars extracts each hostile tar into base/dst and
// checks that it fails naming the entry and that nothing appears outside dst
// (base/sentinel stays empty, base holds nothing new, /etc is untouched).
func TestExtractRefusesMaliciousTars(t *testing.T) {
	needRoot(t)
	etcBefore := hashFiles(t, "/etc/passwd", "/etc/shadow")
	tests := []struct {
		name     string
		entries  func(base string) []tarEntry
		badEntry string
	}{
		{"dotdot", fixed(reg("../../etc/passwd", "root::0:0::/:/bin/sh\n", 0o644)), "../../etc/passwd"},
		{"dotdot into sentinel", fixed(reg("a/../../sentinel/pwned", "x", 0o644)), "a/../../sentinel/pwned"},
		{"absolute", fixed(reg("/etc/passwd", "x", 0o644)), "/etc/passwd"},
		{"write through absolute symlink", fixed(symEnt("a", "/etc"), reg("a/passwd", "x", 0o644)), "a/passwd"},
		{"write through symlink to sentinel", func(base string) []tarEntry {
			return []tarEntry{symEnt("s", filepath.Join(base, "sentinel")), reg("s/pwned", "x", 0o644)}
		}, "s/pwned"},
		{"relative symlink escape", fixed(symEnt("b", "../../.."), reg("b/x", "x", 0o644)), "b"},
		{"nested relative symlink escape", fixed(dirEnt("d/", 0o755), symEnt("d/up", "../../sentinel")), "d/up"},
		{"write through inside symlink", fixed(dirEnt("d/", 0o755), symEnt("l", "d"), reg("l/x", "x", 0o644)), "l/x"},
		{"hardlink absolute", fixed(linkEnt("h", "/etc/shadow")), "h"},
		{"hardlink dotdot", fixed(linkEnt("h", "../outside")), "h"},
		{"hardlink not yet extracted", fixed(linkEnt("h", "later"), reg("later", "x", 0o644)), "h"},
		{"hardlink through symlink", fixed(symEnt("s", "/etc"), linkEnt("h", "s/shadow")), "h"},
		{"char device", fixed(dirEnt("dev/", 0o755), tarEntry{hdr: tar.Header{
			Typeflag: tar.TypeChar, Name: "dev/sda", Mode: 0o660, Devmajor: 8, Devminor: 0}}), "dev/sda"},
		{"overlay xattr", fixed(tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "opq/", Mode: 0o755,
			PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.opaque": "y"}}}), "opq/"},
		{"overlay redirect xattr", fixed(tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "r/", Mode: 0o755,
			PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.redirect": "/etc"}}}), "r/"},
		{"whiteout of dotdot", fixed(reg(".wh...", "", 0o600)), ".wh..."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			dst, sentinel := filepath.Join(base, "dst"), filepath.Join(base, "sentinel")
			for _, d := range []string{dst, sentinel} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			writeFile(t, filepath.Join(base, "outside"), "outside", 0o644)
			err := Extract(context.Background(), mkTar(t, tc.entries(base)...), dst, ExtractOptions{})
			if err == nil {
				t.Fatal("Extract succeeded, want a refusal")
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, ErrUnsafeEntry) {
				t.Errorf("error does not wrap ErrUnsafeEntry: %v", err)
			}
			if want := `entry "` + tc.badEntry + `"`; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
			assertDirNames(t, sentinel)
			assertDirNames(t, base, "dst", "outside", "sentinel")
		})
	}
	if etcAfter := hashFiles(t, "/etc/passwd", "/etc/shadow"); etcAfter != etcBefore {
		t.Error("/etc/passwd or /etc/shadow changed")
	}
}

func fixed(entries ...tarEntry) func(string) []tarEntry {
	return func(string) []tarEntry { return entries }
}

func assertDirNames(t *testing.T, dir string, want ...string) {
	t.Helper()
	names, err := readDirNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("%s holds %q, want %q", dir, names, want)
	}
}

func hashFiles(t *testing.T, paths ...string) string {
	h := sha256.New()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		h.Write(b)
	}
	return string(h.Sum(nil))
}

// TestExtractAllowsDevicesWhenAsked extracts a rootfs-style /dev/null.
func TestExtractAllowsDevicesWhenAsked(t *testing.T) {
	needRoot(t)
	dst := t.TempDir()
	tr := mkTar(t, dirEnt("dev/", 0o755), tarEntry{hdr: tar.Header{
		Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: epoch}})
	if err := Extract(context.Background(), tr, dst, ExtractOptions{AllowDevices: true}); err != nil {
		t.Fatal(err)
	}
	st := lstat(t, filepath.Join(dst, "dev/null"))
	if st.Mode != 0o20666 || st.Rdev != 0x103 {
		t.Errorf("dev/null: mode %o rdev %#x, want 20666 and 0x103", st.Mode, st.Rdev)
	}
}
