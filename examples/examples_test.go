// Package examples tests the runnable pipelines in this directory: every
// one of them validates and plans, and the golden image builds for real
// when slow integration tests are asked for.
package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pipebuild/pipe/builders/all"
	"github.com/pipebuild/pipe/builders/local/image/registrytest"
	"github.com/pipebuild/pipe/builders/local/machine"
	"github.com/pipebuild/pipe/pipeline"
	"github.com/pipebuild/pipe/pipeline/cache"
	stagesall "github.com/pipebuild/pipe/stages/all"
)

// TestMain lets the test binary serve as the local builder's machine
// helper.
func TestMain(m *testing.M) {
	machine.Init()
	os.Exit(m.Run())
}

// examples returns the directories of examples/*/pipe.yaml.
func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("*", "pipe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples/*/pipe.yaml found")
	}
	var dirs []string
	for _, f := range files {
		dirs = append(dirs, filepath.Dir(f))
	}
	return dirs
}

// copyExample copies an example directory into a temp dir, leaving out
// what runs of it in place produce (out/, pipe-manifest.json), and returns
// the copy.
func copyExample(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel == "out" || rel == "pipe-manifest.json" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	return dst
}

func load(t *testing.T, dir string, vars ...string) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.Load(pipeline.Options{
		File:         filepath.Join(dir, "pipe.yaml"),
		Inputs:       pipeline.VarInputs{Environ: []string{}, Vars: vars},
		Builders:     all.Registry(),
		Provisioners: stagesall.Registry(),
	})
	if err != nil {
		t.Fatalf("load %s: %v", dir, err)
	}
	return p
}

func openStore(t *testing.T) *cache.Store {
	t.Helper()
	st, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestPlanEveryExample: every example validates, and on a fresh store its
// plan builds every node. Planning computes every key, including the files
// each provisioner references, without building anything.
func TestPlanEveryExample(t *testing.T) {
	for _, ex := range examples(t) {
		t.Run(ex, func(t *testing.T) {
			dir := copyExample(t, ex)
			p := load(t, dir)
			if len(p.Nodes()) == 0 {
				t.Fatal("no nodes")
			}
			decisions, err := p.Plan(context.Background(), openStore(t), pipeline.PlanOptions{})
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			if len(decisions) != len(p.Nodes()) {
				t.Errorf("%d decisions for %d nodes", len(decisions), len(p.Nodes()))
			}
			for _, d := range decisions {
				if d.Status != pipeline.StatusBuild {
					t.Errorf("%s: %s (%s), want build on a fresh store", d.Node, d.Status, d.Reason)
				}
				// A downstream key needs its upstream's output: only root
				// nodes have one before anything is built.
				if d.Upstream == "" && d.ActionID == "" {
					t.Errorf("%s: no action id", d.Node)
				}
			}
		})
	}
}

// skipOrFail skips, or fails under PIPE_REQUIRE_INTEGRATION=1.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("PIPE_REQUIRE_INTEGRATION") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func requireTool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		skipOrFail(t, name+" is not installed (apt-get install "+pkg+")")
	}
}

type events struct {
	mu  sync.Mutex
	all []pipeline.Event
}

func (e *events) Event(ev pipeline.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

// run runs the pipeline and returns "node=status" for every node; it fails
// the test, with the run's output, if a node neither built nor was reused.
func run(t *testing.T, dir string, st *cache.Store, vars ...string) string {
	t.Helper()
	p := load(t, dir, vars...)
	ev := &events{}
	res, err := p.Run(context.Background(), st, pipeline.RunOptions{Reporter: ev})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var out []string
	failed := false
	for _, n := range res.Nodes {
		out = append(out, n.Node.Name+"="+string(n.Status))
		if n.Status != pipeline.StatusBuilt && n.Status != pipeline.StatusCached {
			failed = true
		}
	}
	if failed {
		for _, e := range ev.all {
			line := e.Line
			if line == "" {
				line = e.Kind + " " + e.Reason + " " + e.Error
			}
			t.Logf("%s: %s", e.Node, line)
		}
		t.Fatalf("run: %s", strings.Join(out, " "))
	}
	return strings.Join(out, " ")
}

// TestGoldenEndToEnd builds examples/golden for real: Debian from the
// mirrors with mmdebstrap, apt inside chroots, an OCI layout and a push to
// a registry on loopback. It is slow (a minute or more, with network), so
// it runs only with PIPE_REQUIRE_INTEGRATION=1 or PIPE_SLOW=1.
func TestGoldenEndToEnd(t *testing.T) {
	if os.Getenv("PIPE_REQUIRE_INTEGRATION") != "1" && os.Getenv("PIPE_SLOW") != "1" {
		t.Skip("slow (mmdebstrap and apt from the Debian mirrors): set PIPE_SLOW=1 or PIPE_REQUIRE_INTEGRATION=1")
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "the golden example needs root (overlayfs and chroot)")
	}
	if err := machine.Check(); err != nil {
		skipOrFail(t, "the local builder cannot run here: "+err.Error())
	}
	requireTool(t, "mmdebstrap", "mmdebstrap")
	requireTool(t, "skopeo", "skopeo")
	requireTool(t, "umoci", "umoci")
	addr := registrytest.Start(t)

	dir := copyExample(t, "golden")
	st := openStore(t)
	reg := "registry=" + addr
	const nodes = "base@local hardened@local app@local"
	statusLine := func(statuses ...string) string {
		var out []string
		for i, n := range strings.Fields(nodes) {
			out = append(out, n+"="+statuses[i])
		}
		return strings.Join(out, " ")
	}

	if got, want := run(t, dir, st, reg), statusLine("built", "built", "built"); got != want {
		t.Fatalf("first run: %s, want %s", got, want)
	}
	if got, want := run(t, dir, st, reg), statusLine("cached", "cached", "cached"); got != want {
		t.Fatalf("second run: %s, want %s", got, want)
	}
	page := filepath.Join(dir, "files/site/index.html")
	f, err := os.OpenFile(page, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("<p>edited by TestGoldenEndToEnd</p>\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got, want := run(t, dir, st, reg), statusLine("cached", "cached", "built"); got != want {
		t.Fatalf("after editing files/site/index.html: %s, want %s", got, want)
	}

	// The registry has the app image.
	out := command(t, "skopeo", "inspect", "--tls-verify=false", "docker://"+addr+"/golden/app:1.4.2")
	var remote struct{ Layers []string }
	if err := json.Unmarshal(out, &remote); err != nil {
		t.Fatalf("skopeo inspect: %v\n%s", err, out)
	}
	if len(remote.Layers) != 4 {
		t.Errorf("registry image has %d layers, want 4 (debootstrap, base, hardened, app)", len(remote.Layers))
	}

	// The OCI layout, read by skopeo and unpacked by umoci.
	oci := filepath.Join(dir, "out/golden-oci")
	out = command(t, "skopeo", "inspect", "--config", "oci:"+oci+":1.4.2")
	var cfg struct {
		Config struct {
			Entrypoint   []string
			ExposedPorts map[string]any
			Labels       map[string]string
		} `json:"config"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("skopeo inspect --config: %v\n%s", err, out)
	}
	if want := []string{"/usr/sbin/nginx", "-g", "daemon off;"}; !slices.Equal(cfg.Config.Entrypoint, want) {
		t.Errorf("entrypoint %q, want %q", cfg.Config.Entrypoint, want)
	}
	if _, ok := cfg.Config.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("exposed ports %v lack 80/tcp", cfg.Config.ExposedPorts)
	}
	if v := cfg.Config.Labels["org.opencontainers.image.version"]; v != "1.4.2" {
		t.Errorf("version label %q", v)
	}

	bundle := filepath.Join(t.TempDir(), "bundle")
	command(t, "umoci", "unpack", "--image", oci+":1.4.2", bundle)
	root := filepath.Join(bundle, "rootfs")
	if _, err := os.Lstat(filepath.Join(root, "etc/update-motd.d/10-uname")); !os.IsNotExist(err) {
		t.Errorf("/etc/update-motd.d/10-uname should be deleted by hardened: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "var/www/html/VERSION")); err != nil || strings.TrimSpace(string(data)) != "1.4.2" {
		t.Errorf("/var/www/html/VERSION = %q, %v; want 1.4.2", data, err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "var/www/html/index.html")); err != nil ||
		!strings.Contains(string(data), "edited by TestGoldenEndToEnd") {
		t.Errorf("/var/www/html/index.html lacks the edit: %q, %v", data, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "usr/sbin/nginx")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("/usr/sbin/nginx: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/ssh/sshd_config.d/90-hardening.conf")); err != nil {
		t.Errorf("90-hardening.conf: %v", err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("90-hardening.conf mode %o, want 0600", fi.Mode().Perm())
	}
}

// command runs a tool and returns its stdout.
func command(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}
