package file_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/builders/null"
	"github.com/pipebuild/pipe/pipeline/cache"
	"github.com/pipebuild/pipe/stages"
	"github.com/pipebuild/pipe/stages/file"
)

// newEnv returns an env on a real null machine whose tree has /etc and
// /dst, with a pipeline dir holding files/a, files/sub/b (0755) and conf.
func newEnv(t *testing.T) (*stages.Env, string) {
	t.Helper()
	undo := &builders.Undo{}
	t.Cleanup(func() { undo.Run(context.Background()) })
	m, err := null.New().Launch(context.Background(),
		&builders.Spec{WorkDir: t.TempDir(), StoreDir: t.TempDir()}, undo)
	if err != nil {
		t.Fatal(err)
	}
	root := m.(builders.HostDirMachine).HostDir()
	dir := t.TempDir()
	for _, d := range []string{filepath.Join(root, "etc"), filepath.Join(root, "dst"), filepath.Join(dir, "files/sub")} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(dir, "files/a"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(dir, "files/sub/b"), []byte("b"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf"), []byte("conf"), 0o600)
	return &stages.Env{Node: "n@null", BuilderType: "null", Dir: dir, Comm: m.Communicator(),
		Stdout: os.Stdout, Stderr: os.Stderr}, root
}

// tree lists dir below "/sub" as "path mode [content]" lines.
func tree(t *testing.T, dir, sub string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		info, _ := d.Info()
		line := rel + " " + info.Mode().String()
		if info.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		out = append(out, line)
		return nil
	})
	sort.Strings(out)
	return out
}

func TestUpload(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  file.Config
		want []string // tree(root, "dst")
	}{
		{"dir without slash copies the dir", file.Config{Source: "files", Destination: "/dst"},
			[]string{"dst drwxr-xr-x", "dst/files drwxr-xr-x", "dst/files/a -rw-r--r-- a",
				"dst/files/sub drwxr-xr-x", "dst/files/sub/b -rwxr-xr-x b"}},
		{"dir with slash copies its contents", file.Config{Source: "files/", Destination: "/dst"},
			[]string{"dst drwxr-xr-x", "dst/a -rw-r--r-- a", "dst/sub drwxr-xr-x", "dst/sub/b -rwxr-xr-x b"}},
		{"file to a path keeps its mode", file.Config{Source: "conf", Destination: "/dst/app.conf"},
			[]string{"dst drwxr-xr-x", "dst/app.conf -rw------- conf"}},
		{"file into a dir", file.Config{Sources: []string{"conf", "files/sub/b"}, Destination: "/dst/"},
			[]string{"dst drwxr-xr-x", "dst/b -rwxr-xr-x b", "dst/conf -rw------- conf"}},
		{"content", file.Config{Content: "hello\n", Destination: "/dst/motd"},
			[]string{"dst drwxr-xr-x", "dst/motd -rw-r--r-- hello\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, root := newEnv(t)
			p := file.New()
			if err := p.Prepare(&tc.cfg, env.Dir); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if err := p.Run(context.Background(), &tc.cfg, env); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff(tc.want, tree(t, root, "dst")); diff != "" {
				t.Errorf("machine tree (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUploadDirStaysInsideRoot(t *testing.T) {
	env, root := newEnv(t)
	outside := t.TempDir()
	// A link planted in the machine where the upload will put "files".
	os.Symlink(outside, filepath.Join(root, "dst", "files"))
	c := &file.Config{Source: "files", Destination: "/dst"}
	err := file.New().Run(context.Background(), c, env)
	t.Logf("Run: %v", err) // refusing is fine; escaping is not
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("upload wrote through a planted symlink to the host: %v", entries)
	}
}

func TestDownload(t *testing.T) {
	env, root := newEnv(t)
	os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("ID=test\n"), 0o600)
	for _, tc := range []struct{ dst, want string }{
		{"out/release.txt", "out/release.txt"},
		{"out/", "out/os-release"},
	} {
		c := &file.Config{Source: "/etc/os-release", Destination: tc.dst, Direction: "download"}
		if err := file.New().Prepare(c, env.Dir); err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		if err := file.New().Run(context.Background(), c, env); err != nil {
			t.Fatalf("Run(%s): %v", tc.dst, err)
		}
		b, err := os.ReadFile(filepath.Join(env.Dir, tc.want))
		if err != nil || string(b) != "ID=test\n" {
			t.Errorf("download to %s: %q, %v", tc.dst, b, err)
		}
	}
	c := &file.Config{Source: "/etc/missing", Destination: "out/missing", Direction: "download"}
	if err := file.New().Run(context.Background(), c, env); err == nil {
		t.Error("download of a missing file succeeded")
	}
	if _, err := os.Stat(filepath.Join(env.Dir, "out/missing")); err == nil {
		t.Error("failed download left a file")
	}
}

func TestPrepare(t *testing.T) {
	env, _ := newEnv(t)
	for _, tc := range []struct {
		cfg  file.Config
		want string
	}{
		{file.Config{Source: "conf"}, "destination is required"},
		{file.Config{Destination: "/x"}, "exactly one of source, sources or content"},
		{file.Config{Source: "conf", Content: "x", Destination: "/x"}, "exactly one of"},
		{file.Config{Sources: []string{"conf", "files"}, Destination: "/x"}, "must end with /"},
		{file.Config{Source: "nope", Destination: "/x"}, "source nope"},
		{file.Config{Source: "conf", Destination: "/x", Direction: "sideways"}, `direction "sideways"`},
	} {
		err := file.New().Prepare(&tc.cfg, env.Dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: Prepare err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestKey(t *testing.T) {
	env, _ := newEnv(t)
	lines := func(c file.Config) string {
		k := cache.NewKey([]byte("secret"), nil)
		if err := file.New().Key(&c, env.Dir, k); err != nil {
			t.Fatal(err)
		}
		return cache.Format(k.Lines())
	}
	base := file.Config{Source: "files/", Destination: "/dst"}
	before := lines(base)
	os.WriteFile(filepath.Join(env.Dir, "files/sub/b"), []byte("changed"), 0o755)
	if lines(base) == before {
		t.Errorf("changing a source file did not change the key:\n%s", before)
	}
	if lines(file.Config{Source: "files", Destination: "/dst"}) == lines(base) {
		t.Error("the trailing slash did not change the key")
	}
	if lines(file.Config{Content: "a", Destination: "/x"}) == lines(file.Config{Content: "b", Destination: "/x"}) {
		t.Error("content did not change the key")
	}
}
