package null_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/builders/null"
	"github.com/pipebuild/pipe/pipeline/cache"
)

// launch starts a null machine from upstream (nil for a root) or src (a
// source dir, "" for none) with a fresh work dir in store.
func launch(t *testing.T, store string, upstream *builders.Artifact, src string) (builders.Machine, *builders.Undo, *builders.Spec) {
	t.Helper()
	spec := &builders.Spec{Node: "n@null", Dir: t.TempDir(), Config: &null.Config{},
		Upstream: upstream, WorkDir: t.TempDir(), StoreDir: store}
	if src != "" {
		spec.Source = &null.Source{Dir: src}
	}
	b := null.New()
	if err := b.Prepare(spec); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	undo := &builders.Undo{}
	m, err := b.Launch(context.Background(), spec, undo)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(func() { undo.Run(context.Background()) })
	return m, undo, spec
}

func hostDir(t *testing.T, m builders.Machine) string {
	t.Helper()
	hm, ok := m.(builders.HostDirMachine)
	if !ok {
		t.Fatalf("%T does not implement builders.HostDirMachine", m)
	}
	return hm.HostDir()
}

// writeTree creates files (path → content) under dir; a path ending in "/"
// is a directory and content "-> x" makes a symlink to x.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(p, "/"):
			err = os.MkdirAll(full, 0o755)
		case strings.HasPrefix(content, "-> "):
			err = os.Symlink(strings.TrimPrefix(content, "-> "), full)
		default:
			err = os.WriteFile(full, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

var sample = map[string]string{"etc/motd": "hello\n", "bin/run": "#!/bin/sh\n", "link": "-> etc/motd", "empty/": ""}

func TestCaptureOutputID(t *testing.T) {
	store := t.TempDir()
	capture := func(change func(root string)) *builders.Artifact {
		src := t.TempDir()
		writeTree(t, src, sample)
		m, _, _ := launch(t, store, nil, src)
		if change != nil {
			change(hostDir(t, m))
		}
		a, err := m.Capture(context.Background())
		if err != nil {
			t.Fatalf("Capture: %v", err)
		}
		return a
	}
	base := capture(nil)
	if !strings.HasPrefix(base.OutputID, "sha256:") || base.ID != base.OutputID || base.Builder != "null" {
		t.Fatalf("artifact = %+v", base)
	}
	if got := capture(nil); got.OutputID != base.OutputID || got.Data["dir"] != base.Data["dir"] {
		t.Errorf("identical tree: got %+v, want %+v", got, base)
	}
	changes := map[string]func(root string){
		"chmod":   func(root string) { os.Chmod(filepath.Join(root, "bin/run"), 0o755) },
		"content": func(root string) { os.WriteFile(filepath.Join(root, "etc/motd"), []byte("bye\n"), 0o644) },
		"relink": func(root string) {
			os.Remove(filepath.Join(root, "link"))
			os.Symlink("bin/run", filepath.Join(root, "link"))
		},
		"new dir": func(root string) { os.Mkdir(filepath.Join(root, "empty/sub"), 0o755) },
	}
	for name, change := range changes {
		if got := capture(change); got.OutputID == base.OutputID {
			t.Errorf("%s: OutputID unchanged", name)
		}
	}
	want := filepath.Join(store, "null", strings.TrimPrefix(base.OutputID, "sha256:"))
	if base.Data["dir"] != want {
		t.Errorf(`Data["dir"] = %s, want %s`, base.Data["dir"], want)
	}
}

func TestDownstreamStartsFromUpstream(t *testing.T) {
	store := t.TempDir()
	up, _, _ := launch(t, store, nil, "")
	comm := up.Communicator()
	ctx := context.Background()
	if err := comm.Upload(ctx, "/tool", strings.NewReader("#!/bin/sh\necho hi\n"), 0o750); err != nil {
		t.Fatal(err)
	}
	a, err := up.Capture(ctx)
	if err != nil {
		t.Fatal(err)
	}
	down, _, _ := launch(t, store, a, "")
	root := hostDir(t, down)
	fi, err := os.Stat(filepath.Join(root, "tool"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o750 {
		t.Errorf("mode = %v, want 0750", fi.Mode().Perm())
	}
	// Changing the downstream tree must not change the stored upstream.
	os.WriteFile(filepath.Join(root, "tool"), []byte("changed"), 0o644)
	b, _ := os.ReadFile(filepath.Join(a.Data["dir"], "tool"))
	if diff := cmp.Diff("#!/bin/sh\necho hi\n", string(b)); diff != "" {
		t.Errorf("stored upstream changed (-want +got):\n%s", diff)
	}
	if ok, err := null.New().Exists(ctx, nil, a); !ok || err != nil {
		t.Errorf("Exists = %v, %v; want true", ok, err)
	}
	os.RemoveAll(a.Data["dir"])
	if ok, err := null.New().Exists(ctx, nil, a); ok || err != nil {
		t.Errorf("Exists after removal = %v, %v; want false", ok, err)
	}
}

func TestUndoRemovesWorkRoot(t *testing.T) {
	m, undo, _ := launch(t, t.TempDir(), nil, "")
	root := hostDir(t, m)
	// A read-only directory must not stop the clean-up.
	writeTree(t, root, map[string]string{"ro/f": "x"})
	os.Chmod(filepath.Join(root, "ro"), 0o500)
	if undo.Len() == 0 {
		t.Fatal("Launch pushed no undo")
	}
	if err := undo.Run(context.Background()); err != nil {
		t.Fatalf("undo: %v", err)
	}
	if _, err := os.Lstat(root); !os.IsNotExist(err) {
		t.Errorf("work root still there: %v", err)
	}
}

func TestPrepareSourceDir(t *testing.T) {
	b := null.New()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"src/a": "a", "file": "f"})
	for _, tc := range []struct {
		src     string
		wantErr bool
	}{{"src", false}, {"missing", true}, {"file", true}, {"", false}} {
		err := b.Prepare(&builders.Spec{Dir: dir, Source: &null.Source{Dir: tc.src}})
		if (err != nil) != tc.wantErr {
			t.Errorf("source %q: err = %v, want error %v", tc.src, err, tc.wantErr)
		}
	}
}

func TestKeySourceDir(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"src/a": "a"})
	lines := func() []cache.Line {
		k := cache.NewKey([]byte("secret"), nil)
		if err := null.New().Key(&builders.Spec{Dir: dir, Source: &null.Source{Dir: "src"}}, k); err != nil {
			t.Fatal(err)
		}
		return k.Lines()
	}
	before := lines()
	if !strings.Contains(cache.Format(before), "builder null\n") {
		t.Errorf("no builder line in:\n%s", cache.Format(before))
	}
	os.WriteFile(filepath.Join(dir, "src/a"), []byte("b"), 0o644)
	if diff := cmp.Diff(before, lines()); diff == "" {
		t.Error("key unchanged after the source dir changed")
	}
}
