package ssh_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestUpload(t *testing.T) {
	comm, _ := connect(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		mode    fs.FileMode
		content string
	}{
		{"plain", 0o644, "hello\n"},
		{"script", 0o755, "#!/bin/sh\necho hi\n"},
		{"secret", 0o600, ""},
		{"setuid", 0o755 | fs.ModeSetuid, "x"},
		{"with ' quote and $x", 0o640, "quoted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := comm.Upload(context.Background(), p, strings.NewReader(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != tc.mode {
				t.Errorf("mode = %v, want %v", fi.Mode(), tc.mode)
			}
			if got := readFile(t, p); got != tc.content {
				t.Errorf("content = %q, want %q", got, tc.content)
			}
		})
	}
	assertNoTemp(t, dir)
}

func TestUploadReplaces(t *testing.T) {
	comm, _ := connect(t)
	p := filepath.Join(t.TempDir(), "f")
	writeFile(t, p, "old", 0o600)
	old, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("new\n"), 1<<18) // 1 MiB: several SSH windows
	if err := comm.Upload(context.Background(), p, bytes.NewReader(big), 0o755); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, p); got != string(big) {
		t.Errorf("content has %d bytes, want %d", len(got), len(big))
	}
	if fi.Mode() != 0o755 {
		t.Errorf("mode = %v, want 0755", fi.Mode())
	}
	// A rename, not a rewrite: a script running from the old file keeps it.
	if os.SameFile(old, fi) {
		t.Error("file replaced in place, want renamed over")
	}
	assertNoTemp(t, filepath.Dir(p))
}

// TestUploadBrokenStream checks that a reader failing midway leaves the old
// file alone, though the machine saw its stdin end as if complete.
func TestUploadBrokenStream(t *testing.T) {
	comm, _ := connect(t)
	p := filepath.Join(t.TempDir(), "f")
	writeFile(t, p, "old", 0o644)
	broken := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(errors.New("disk on fire")))
	err := comm.Upload(context.Background(), p, broken, 0o644)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want one naming %s and the read error", err, p)
	}
	if got := readFile(t, p); got != "old" {
		t.Errorf("content = %q, want the old file's", got)
	}
	assertNoTemp(t, filepath.Dir(p))
}

func TestUploadMissingDir(t *testing.T) {
	comm, _ := connect(t)
	p := filepath.Join(t.TempDir(), "no", "such", "f")
	err := comm.Upload(context.Background(), p, strings.NewReader("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), "upload "+p) || !strings.Contains(err.Error(), "nonexistent") {
		t.Fatalf("err = %v, want one naming %s", err, p)
	}
}

func TestDownload(t *testing.T) {
	comm, _ := connect(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "it's here")
	content := strings.Repeat("data\x00\xff\n", 10000)
	writeFile(t, p, content, 0o600)
	var b bytes.Buffer
	if err := comm.Download(context.Background(), p, &b); err != nil {
		t.Fatal(err)
	}
	if b.String() != content {
		t.Errorf("downloaded %d bytes, want %d", b.Len(), len(content))
	}

	missing := filepath.Join(dir, "missing")
	err := comm.Download(context.Background(), missing, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "download "+missing) || !strings.Contains(err.Error(), "No such file") {
		t.Fatalf("err = %v, want one naming %s", err, missing)
	}
}

func TestUploadDir(t *testing.T) {
	comm, _ := connect(t)
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	want := tree(t, src)

	t.Run("contents with trailing slash", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "dst")
		if err := os.Mkdir(dst, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := comm.UploadDir(context.Background(), dst, src+"/"); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, tree(t, dst)); d != "" {
			t.Errorf("tree (-want +got):\n%s", d)
		}
		if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("existing dst: %v, %v; want it to keep mode 0700", fi.Mode(), err)
		}
	})
	t.Run("directory itself without slash", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "new", "dst") // created with parents
		if err := comm.UploadDir(context.Background(), dst, src); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, tree(t, filepath.Join(dst, "src"))); d != "" {
			t.Errorf("tree (-want +got):\n%s", d)
		}
		if got, err := os.ReadDir(dst); err != nil || len(got) != 1 {
			t.Errorf("dst holds %v (%v), want only src", got, err)
		}
	})
	t.Run("through a symlink to the directory", func(t *testing.T) {
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(src, link); err != nil {
			t.Fatal(err)
		}
		dst := t.TempDir()
		if err := comm.UploadDir(context.Background(), dst, link); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, tree(t, filepath.Join(dst, "link"))); d != "" {
			t.Errorf("tree (-want +got):\n%s", d)
		}
	})
}

// makeTree makes a tree with nested directories, modes and symlinks.
func makeTree(t *testing.T, root string) {
	t.Helper()
	writeFile(t, filepath.Join(root, "a.txt"), "a", 0o640)
	writeFile(t, filepath.Join(root, "bin", "run.sh"), "#!/bin/sh\n", 0o755)
	writeFile(t, filepath.Join(root, "nested", "deep", "x"), "x", 0o600)
	writeFile(t, filepath.Join(root, "nested", "deep", "it's $odd"), "odd", 0o644)
	writeFile(t, filepath.Join(root, "ro", "f"), "f", 0o444)
	for _, l := range [][2]string{{"a.txt", "link"}, {"nested/deep", "dirlink"}, {"/nonexistent", "dangling"}} {
		if err := os.Symlink(l[0], filepath.Join(root, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	for dir, mode := range map[string]fs.FileMode{"nested": 0o750, "ro": 0o555, "bin": 0o711 | fs.ModeSetgid} {
		if err := os.Chmod(filepath.Join(root, dir), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// tree describes the tree at root: each path's mode, and a file's content or
// a link's target.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case fi.Mode().IsRegular():
			desc += " " + readFile(t, p)
		}
		m[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	left, err := filepath.Glob(filepath.Join(dir, "*.pipe-tmp-*"))
	if err != nil || len(left) > 0 {
		t.Errorf("temporary files left: %v (%v)", left, err)
	}
}
