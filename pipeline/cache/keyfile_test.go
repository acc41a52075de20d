package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// tree describes files to create: a trailing "/" makes a directory, a
// "->" a symlink, anything else a file with that content.
type tree map[string]string

func (tr tree) write(t testing.TB, root string) {
	t.Helper()
	for name, v := range tr {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(name, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(v, "->"):
			err = os.Symlink(strings.TrimPrefix(v, "->"), p)
		default:
			err = os.WriteFile(p, []byte(v), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func chmod(t testing.TB, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestKeyFileLines(t *testing.T) {
	tests := []struct {
		name  string
		tree  tree
		setup func(t *testing.T, root string)
		path  string // relative to root
		want  []Line
	}{{
		name: "regular file",
		tree: tree{"a.sh": "echo hi\n"},
		path: "a.sh",
		want: []Line{{"file x", "mode=0644 " + sha("echo hi\n")}},
	}, {
		name:  "setuid file",
		tree:  tree{"a": ""},
		setup: func(t *testing.T, root string) { chmod(t, filepath.Join(root, "a"), 0o755|fs.ModeSetuid) },
		path:  "a",
		want:  []Line{{"file x", "mode=4755 " + sha("")}},
	}, {
		name: "symlink is not followed",
		tree: tree{"t": "target", "l": "->t"},
		path: "l",
		want: []Line{{"file x", "symlink -> t"}},
	}, {
		name: "directory in lexical order",
		tree: tree{
			"d/b.txt": "b", "d/a.txt": "a", "d/sub/z": "z",
			"d/empty/": "", "d/link": "->a.txt", "d/A": "upper",
		},
		setup: func(t *testing.T, root string) {
			chmod(t, filepath.Join(root, "d"), 0o755)
			chmod(t, filepath.Join(root, "d/empty"), 0o700|fs.ModeSticky|fs.ModeSetgid)
			chmod(t, filepath.Join(root, "d/sub/z"), 0o600)
		},
		path: "d",
		want: []Line{
			{"file x", "dir mode=0755"},
			{"file x/A", "mode=0644 " + sha("upper")},
			{"file x/a.txt", "mode=0644 " + sha("a")},
			{"file x/b.txt", "mode=0644 " + sha("b")},
			{"file x/empty", "dir mode=3700"},
			{"file x/link", "symlink -> a.txt"},
			{"file x/sub", "dir mode=0755"},
			{"file x/sub/z", "mode=0600 " + sha("z")},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tt.tree.write(t, root)
			if tt.setup != nil {
				tt.setup(t, root)
			}
			k := NewKey(nil, nil).WithPrefix("p")
			if err := k.File("x", filepath.Join(root, tt.path)); err != nil {
				t.Fatal(err)
			}
			want := []Line{{"version", Version}}
			for _, l := range tt.want {
				want = append(want, Line{"p." + l.Name, l.Value})
			}
			if diff := cmp.Diff(want, k.Lines()); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeyFileChanges(t *testing.T) {
	base := tree{"d/a": "aaa", "d/s/b": "bbb", "d/l": "->a"}
	tests := []struct {
		name    string
		change  func(t *testing.T, d string)
		changes bool
	}{
		{"nothing", func(t *testing.T, d string) {}, false},
		{"touch", func(t *testing.T, d string) { os.Chtimes(filepath.Join(d, "a"), testTime, testTime) }, false},
		{"content same size", func(t *testing.T, d string) { tree{"a": "aab"}.write(t, d) }, true},
		{"chmod file", func(t *testing.T, d string) { chmod(t, filepath.Join(d, "a"), 0o755) }, true},
		{"chmod dir", func(t *testing.T, d string) { chmod(t, filepath.Join(d, "s"), 0o700) }, true},
		{"empty subdir", func(t *testing.T, d string) { tree{"e/": ""}.write(t, d) }, true},
		{"new symlink", func(t *testing.T, d string) { tree{"m": "->a"}.write(t, d) }, true},
		{"retarget symlink", func(t *testing.T, d string) {
			os.Remove(filepath.Join(d, "l"))
			tree{"l": "->s/b"}.write(t, d)
		}, true},
		{"rename", func(t *testing.T, d string) {
			if err := os.Rename(filepath.Join(d, "s/b"), filepath.Join(d, "s/c")); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			base.write(t, root)
			d := filepath.Join(root, "d")
			h := NewFileHasher("")
			sum := func() ActionID {
				k := NewKey(nil, h)
				if err := k.File("d", d); err != nil {
					t.Fatal(err)
				}
				return k.Sum()
			}
			before := sum()
			tt.change(t, d)
			if changed := sum() != before; changed != tt.changes {
				t.Errorf("key changed = %v, want %v", changed, tt.changes)
			}
		})
	}
}

func TestKeyFileErrors(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, h *FileHasher, root string) string
		target error  // errors.Is target, if any
		want   string // substring of the message
	}{{
		name:   "missing",
		setup:  func(t *testing.T, _ *FileHasher, root string) string { return filepath.Join(root, "nope") },
		target: fs.ErrNotExist,
		want:   "nope",
	}, {
		name: "fifo in dir",
		setup: func(t *testing.T, _ *FileHasher, root string) string {
			if err := unix.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
				t.Fatal(err)
			}
			return root
		},
		want: filepath.Join("fifo") + ": unsupported file type",
	}, {
		name: "socket",
		setup: func(t *testing.T, _ *FileHasher, root string) string {
			p := filepath.Join(root, "sock")
			l, err := net.Listen("unix", p)
			if err != nil {
				t.Skipf("cannot create a socket: %v", err)
			}
			t.Cleanup(func() { l.Close() })
			return p
		},
		want: "sock: unsupported file type",
	}, {
		// Root reads any file, so the permission error is injected.
		name: "unreadable file in dir",
		setup: func(t *testing.T, h *FileHasher, root string) string {
			tree{"a": "a", "b": "b"}.write(t, root)
			h.open = func(name string) (*os.File, error) {
				if filepath.Base(name) == "b" {
					return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
				}
				return os.Open(name)
			}
			return root
		},
		target: fs.ErrPermission,
		want:   "open " + "<root>/b: permission denied",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			h := NewFileHasher("")
			path := tt.setup(t, h, root)
			err := NewKey(nil, h).File("x", path)
			if err == nil {
				t.Fatal("File succeeded, want an error")
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Errorf("error %v is not %v", err, tt.target)
			}
			if want := strings.ReplaceAll(tt.want, "<root>", root); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
			if !strings.HasPrefix(err.Error(), "key file x: ") {
				t.Errorf("error %q does not name the key file", err)
			}
		})
	}
}

func TestKeyFileConcurrent(t *testing.T) {
	root := t.TempDir()
	tr := tree{}
	for i := range 200 {
		tr[filepath.Join("d", string(rune('a'+i%26)), strings.Repeat("f", 1+i/26))] = strings.Repeat("x", i)
	}
	tr.write(t, root)
	h := NewFileHasher("")
	want := NewKey(nil, nil)
	if err := want.File("d", root); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			k := NewKey(nil, h)
			if err := k.File("d", root); err != nil {
				t.Error(err)
				return
			}
			if diff := cmp.Diff(want.Lines(), k.Lines()); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
	wg.Wait()
}

// A directory named with a trailing slash (Packer's "copy the contents"
// form) gives entry names with a single slash.
func TestKeyFileTrailingSlashName(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	k := NewKey(nil, nil)
	if err := k.File("site/", root); err != nil {
		t.Fatal(err)
	}
	lines := k.Lines()
	if got := lines[len(lines)-1].Name; got != "file site/index.html" {
		t.Errorf("entry name = %q, want %q", got, "file site/index.html")
	}
}
