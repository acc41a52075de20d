package local_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipebuild/pipe/builders/all"
	"github.com/pipebuild/pipe/builders/local/machine"
	"github.com/pipebuild/pipe/pipeline"
	"github.com/pipebuild/pipe/pipeline/cache"
	stagesall "github.com/pipebuild/pipe/stages/all"
)

// TestMain lets the test binary serve as the machine helper: every machine
// operation re-executes it as "pipe-machine-helper".
func TestMain(m *testing.M) {
	machine.Init()
	os.Exit(m.Run())
}

// skipOrFail skips the test with msg, or fails it when
// PIPE_REQUIRE_INTEGRATION=1 says the integration environment must be
// complete.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("PIPE_REQUIRE_INTEGRATION") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// requireLocal skips (or fails) a test that needs to launch local machines:
// root, overlayfs, namespaces and busybox-static.
func requireLocal(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "the local builder tests need root (overlayfs and chroot)")
	}
	if err := machine.Check(); err != nil {
		skipOrFail(t, "the local builder cannot run here: "+err.Error())
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		skipOrFail(t, "the local builder tests need /bin/busybox (apt-get install busybox-static)")
	}
}

// requireTool returns the path of an independent tool the test checks
// outputs with, or skips (fails) without it.
func requireTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, name+" is not installed (apt-get install "+pkg+")")
	}
	return p
}

// applets are the busybox commands linked into the test rootfs.
var applets = []string{"sh", "ls", "cat", "echo", "rm", "mkdir", "touch", "find", "chmod",
	"sleep", "id", "ln", "true", "false", "test", "[", "printf", "env", "stat", "readlink", "grep"}

// imagePasswd is the image's /etc/passwd; it differs from any real host's.
const imagePasswd = "root:x:0:0:image-root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"

// busyboxRootfs writes dir/rootfs.tar: /bin/busybox with its applets,
// /etc/passwd, /etc/group, /etc/motd (for stages to delete), /tmp and
// /root. Entries are sorted with fixed times, so the tarball's bytes do
// not depend on when the test runs.
func busyboxRootfs(t testing.TB, dir string) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		skipOrFail(t, "the local builder tests need /bin/busybox (apt-get install busybox-static)")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 0)
	add := func(h *tar.Header, body []byte) {
		h.ModTime, h.Uname, h.Gname, h.Format = mt, "root", "root", tar.FormatPAX
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	dirEnt := func(name string, mode int64) {
		add(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode}, nil)
	}
	file := func(name, body string, mode int64) {
		add(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode}, []byte(body))
	}
	dirEnt("bin", 0o755)
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755}, bb)
	for _, a := range applets {
		add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}, nil)
	}
	dirEnt("etc", 0o755)
	file("etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644)
	file("etc/motd", "welcome to the test image\n", 0o644)
	file("etc/passwd", imagePasswd, 0o644)
	dirEnt("root", 0o700)
	dirEnt("tmp", 0o1777)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rootfs.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// project is a pipeline directory with a busybox rootfs, and the store
// runs use.
type project struct {
	t     *testing.T
	dir   string
	store *cache.Store
}

// newProject requires local machines, and writes a pipeline directory with
// rootfs.tar and pipe.yaml (yaml), plus extra files (path → content).
func newProject(t *testing.T, yaml string, files map[string]string) *project {
	t.Helper()
	requireLocal(t)
	dir := t.TempDir()
	busyboxRootfs(t, dir)
	pr := &project{t: t, dir: dir}
	pr.write("pipe.yaml", yaml)
	for name, body := range files {
		pr.write(name, body)
	}
	pr.store = pr.newStore()
	return pr
}

// newStore opens a fresh cache store in a temp dir.
func (pr *project) newStore() *cache.Store {
	pr.t.Helper()
	st, err := cache.Open(pr.t.TempDir())
	if err != nil {
		pr.t.Fatal(err)
	}
	st.Warn = func(format string, args ...any) { pr.t.Logf("store warning: "+format, args...) }
	pr.t.Cleanup(func() { st.Close() })
	return st
}

func (pr *project) write(name, body string) {
	pr.t.Helper()
	p := filepath.Join(pr.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		pr.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		pr.t.Fatal(err)
	}
}

func (pr *project) path(name string) string { return filepath.Join(pr.dir, name) }

// load loads the project's pipeline with vars ("name=value").
func (pr *project) load(vars ...string) *pipeline.Pipeline {
	pr.t.Helper()
	p, err := pipeline.Load(pipeline.Options{
		File:         pr.path("pipe.yaml"),
		Inputs:       pipeline.VarInputs{Environ: []string{}, Vars: vars},
		Builders:     all.Registry(),
		Provisioners: stagesall.Registry(),
	})
	if err != nil {
		pr.t.Fatalf("load: %v", err)
	}
	return p
}

// events collects a run's events.
type events struct {
	mu  sync.Mutex
	all []pipeline.Event
}

func (e *events) Event(ev pipeline.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

// kinds returns the events of kind k.
func (e *events) kinds(k string) []pipeline.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []pipeline.Event
	for _, ev := range e.all {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

// log returns the "log" lines of node.
func (e *events) log(node string) string {
	var b strings.Builder
	for _, ev := range e.kinds("log") {
		if ev.Node == node {
			b.WriteString(ev.Line + "\n")
		}
	}
	return b.String()
}

// runIn runs the pipeline on st under ctx and returns the result and its
// events. It does not fail the test when a node fails.
func (pr *project) runIn(ctx context.Context, st *cache.Store, vars ...string) (*pipeline.Result, *events) {
	pr.t.Helper()
	p := pr.load(vars...)
	ev := &events{}
	res, err := p.Run(ctx, st, pipeline.RunOptions{Reporter: ev})
	if err != nil {
		pr.t.Fatalf("run: %v", err)
	}
	return res, ev
}

// run runs the pipeline on the project's store and fails the test unless
// every node was built or reused.
func (pr *project) run(vars ...string) (*pipeline.Result, *events) {
	pr.t.Helper()
	return pr.mustRunIn(pr.store, vars...)
}

func (pr *project) mustRunIn(st *cache.Store, vars ...string) (*pipeline.Result, *events) {
	pr.t.Helper()
	res, ev := pr.runIn(context.Background(), st, vars...)
	for _, n := range res.Nodes {
		if n.Status != pipeline.StatusBuilt && n.Status != pipeline.StatusCached {
			for _, e := range ev.all {
				pr.t.Logf("event: %+v", e)
			}
			pr.t.Fatalf("node %s: %s (%s): %v", n.Node.Name, n.Status, n.Reason, n.Err)
		}
	}
	return res, ev
}

// node returns the result of the node named name.
func node(t testing.TB, res *pipeline.Result, name string) *pipeline.NodeResult {
	t.Helper()
	for _, n := range res.Nodes {
		if n.Node.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s in the result", name)
	return nil
}

// statuses returns "node=status" for every node, in order.
func statuses(res *pipeline.Result) string {
	var out []string
	for _, n := range res.Nodes {
		out = append(out, n.Node.Name+"="+string(n.Status))
	}
	return strings.Join(out, " ")
}

// command runs an external tool and returns its stdout.
func command(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// skopeoJSON runs `skopeo inspect ARGS` and decodes its JSON.
func skopeoJSON(t testing.TB, args ...string) map[string]any {
	t.Helper()
	out := command(t, requireTool(t, "skopeo", "skopeo"), append([]string{"inspect"}, args...)...)
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("skopeo inspect %v: %v\n%s", args, err, out)
	}
	return m
}

// umociUnpack unpacks the image REF ("DIR:TAG") of an OCI layout with umoci
// and returns the bundle's rootfs.
func umociUnpack(t testing.TB, ref string) string {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), "bundle")
	command(t, requireTool(t, "umoci", "umoci"), "unpack", "--image", ref, bundle)
	return filepath.Join(bundle, "rootfs")
}

// assertNoMounts checks that neither this process's nor PID 1's mount
// table mentions dir: local machines mount only inside their helpers.
func assertNoMounts(t testing.TB, dir string) {
	t.Helper()
	for _, f := range []string{"/proc/self/mountinfo", "/proc/1/mountinfo"} {
		info, err := os.ReadFile(f)
		if err != nil {
			t.Errorf("read %s: %v", f, err)
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if strings.Contains(line, dir) {
				t.Errorf("%s mentions the store %s: %s", f, dir, line)
			}
		}
	}
}

// markerProcs lists the processes whose command line or environment holds
// marker, or (when dir is not "") whose root or cwd is under dir.
func markerProcs(marker, dir string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	self := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil || e.Name() == self {
			continue
		}
		p := filepath.Join("/proc", e.Name())
		cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		environ, _ := os.ReadFile(filepath.Join(p, "environ"))
		root, _ := os.Readlink(filepath.Join(p, "root"))
		cwd, _ := os.Readlink(filepath.Join(p, "cwd"))
		if bytes.Contains(cmdline, []byte(marker)) || bytes.Contains(environ, []byte(marker)) ||
			(dir != "" && (strings.HasPrefix(root, dir) || strings.HasPrefix(cwd, dir))) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " ")+" (root "+root+")")
		}
	}
	return out
}

// assertNoMarkerProcs fails if a process with marker (or inside dir) is
// still there a moment after the run returned.
func assertNoMarkerProcs(t testing.TB, marker, dir string) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(2 * time.Second); ; {
		left = markerProcs(marker, dir)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("processes left behind by the run:\n%s", strings.Join(left, "\n"))
}

// tarNames lists the entries of a tar file, without "./" and trailing "/".
func tarNames(t testing.TB, path string) map[string]*tar.Header {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	out := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err != nil {
			if err != io.EOF {
				t.Fatalf("read %s: %v", path, err)
			}
			return out
		}
		out[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = h
	}
}
