package local_test

// Integration tests of the local builder through the pipeline API, on a
// busybox rootfs built by the test: real overlayfs, chroot, layers and OCI
// layouts, with outputs read back by tools we did not write (skopeo, umoci,
// Debian's docker-registry).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pipebuild/pipe/builders/local/image/registrytest"
	"github.com/pipebuild/pipe/pipeline"
	"github.com/pipebuild/pipe/pipeline/cache"
)

// twoStages is base → app on the busybox rootfs. %s is appended to base's
// inline list. base deletes /etc/motd (a whiteout in its layer) and adds
// /base.txt; app uploads files/app.txt to /srv/app.txt.
const twoStages = `name: bb
builders:
  local:
    type: local
    source: { rootfs: { path: rootfs.tar } }
stages:
  base:
    provision:
      - shell: { inline: ["rm /etc/motd", "echo base > /base.txt"%s] }
  app:
    from: base
    provision:
      - shell: { inline: ["mkdir -p /srv", "test -f /base.txt", "test ! -e /etc/motd"] }
      - file:  { source: files/app.txt, destination: /srv/app.txt }
`

func twoStageProject(t *testing.T) *project {
	return newProject(t, fmt.Sprintf(twoStages, ""), map[string]string{"files/app.txt": "hello from app\n"})
}

// TestDeterministic builds the same pipeline from cold into two stores: the
// images are bit-identical.
func TestDeterministic(t *testing.T) {
	pr := twoStageProject(t)
	res1, _ := pr.mustRunIn(pr.newStore())
	res2, _ := pr.mustRunIn(pr.newStore())
	if got := statuses(res1); got != "base@local=built app@local=built" {
		t.Fatalf("first store: %s", got)
	}
	if got := statuses(res2); got != "base@local=built app@local=built" {
		t.Fatalf("second store: %s", got)
	}
	for _, name := range []string{"base@local", "app@local"} {
		a, b := node(t, res1, name), node(t, res2, name)
		if a.ActionID != b.ActionID {
			t.Errorf("%s: action ids differ: %s vs %s", name, a.ActionID, b.ActionID)
		}
		if a.Artifact.ID != b.Artifact.ID {
			t.Errorf("%s: manifest digests differ: %s vs %s", name, a.Artifact.ID, b.Artifact.ID)
		}
		if a.Artifact.OutputID != b.Artifact.OutputID {
			t.Errorf("%s: output ids differ: %s vs %s", name, a.Artifact.OutputID, b.Artifact.OutputID)
		}
		if !strings.HasPrefix(a.Artifact.ID, "sha256:") || !strings.HasPrefix(a.Artifact.OutputID, "sha256:") {
			t.Errorf("%s: artifact %+v: want sha256 digests", name, a.Artifact)
		}
	}
}

// TestReuse: a second run reuses every node and launches no machine.
func TestReuse(t *testing.T) {
	pr := twoStageProject(t)
	res1, _ := pr.run()
	work := filepath.Join(pr.store.Dir(), "work")
	before, err := os.Stat(work)
	if err != nil {
		t.Fatalf("the first run made no work directory: %v", err)
	}
	assertEmptyDir(t, work)

	res2, ev := pr.run()
	if got := statuses(res2); got != "base@local=cached app@local=cached" {
		t.Fatalf("second run: %s", got)
	}
	if starts := ev.kinds("start"); len(starts) != 0 {
		t.Errorf("second run started %d builds: %+v", len(starts), starts)
	}
	if got := len(ev.kinds("cached")); got != 2 {
		t.Errorf("second run: %d cached events, want 2", got)
	}
	after, err := os.Stat(work)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the second run created or removed work directories (mtime %s → %s)", before.ModTime(), after.ModTime())
	}
	assertEmptyDir(t, work)
	for _, name := range []string{"base@local", "app@local"} {
		if a, b := node(t, res1, name).Artifact, node(t, res2, name).Artifact; !reflect.DeepEqual(a, b) {
			t.Errorf("%s: reused artifact %+v, built %+v", name, b, a)
		}
	}
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left in %s: %s", dir, e.Name())
	}
}

// TestEarlyCutoff: base's provisioner changes but produces the same files;
// base rebuilds to the same output, and app, keyed on base's OutputID,
// stays cached.
func TestEarlyCutoff(t *testing.T) {
	pr := twoStageProject(t)
	res1, _ := pr.run()
	pr.write("pipe.yaml", fmt.Sprintf(twoStages, `, "true"`))
	res2, ev := pr.run()
	if got := statuses(res2); got != "base@local=built app@local=cached" {
		for _, e := range ev.all {
			t.Logf("event: %+v", e)
		}
		t.Fatalf("after a no-op change to base: %s, want base built and app cached", got)
	}
	b1, b2 := node(t, res1, "base@local"), node(t, res2, "base@local")
	if b1.ActionID == b2.ActionID {
		t.Errorf("base's action id did not change: %s", b1.ActionID)
	}
	if b1.Artifact.OutputID != b2.Artifact.OutputID {
		t.Errorf("base's output id changed: %s → %s", b1.Artifact.OutputID, b2.Artifact.OutputID)
	}
	if a1, a2 := node(t, res1, "app@local"), node(t, res2, "app@local"); a1.Artifact.ID != a2.Artifact.ID {
		t.Errorf("app's artifact changed: %s → %s", a1.Artifact.ID, a2.Artifact.ID)
	}
}

// failing is base → app where app's second provisioner prints and fails.
const failing = `name: bb
builders:
  local:
    type: local
    source: { rootfs: { path: rootfs.tar } }
stages:
  base:
    provision:
      - shell: { inline: ["echo base > /base.txt"] }
  app:
    from: base
    provision:
      - shell: { inline: ["echo fine"] }
      - shell:
          inline:
            - echo first-line-of-output
            - echo last-words-before-failing >&2
            - exit 3
          env: { MARKER: "%s" }
`

// TestFailingProvisioner: the error names the stage and the YAML positions
// of the stage and the provisioner, the run reports the last lines of
// output, and no record exists for the failed node.
func TestFailingProvisioner(t *testing.T) {
	marker := uniqueMarker("fail")
	pr := newProject(t, fmt.Sprintf(failing, marker), nil)
	res, ev := pr.runIn(context.Background(), pr.store)
	if got := statuses(res); got != "base@local=built app@local=failed" {
		t.Fatalf("statuses: %s", got)
	}
	app := node(t, res, "app@local")
	msg := app.Err.Error()
	var ne *pipeline.NodeError
	if !errors.As(app.Err, &ne) {
		t.Errorf("error %T is not a *pipeline.NodeError: %v", app.Err, app.Err)
	}
	// The stage is at lines 10-11 (its key or its body), its failing
	// provisioner at line 14.
	if !regexp.MustCompile(`stage app on local \(\S*pipe\.yaml:1[01]:\d+\)`).MatchString(msg) {
		t.Errorf("error %q does not name stage app and its position", msg)
	}
	for _, want := range []string{"provision[1] shell", "pipe.yaml:14:", "exit status 3"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	var se *pipeline.StepError
	if !errors.As(app.Err, &se) {
		t.Fatalf("error %v is not a *pipeline.StepError", app.Err)
	}
	if tail := strings.Join(se.Tail, "\n"); !strings.Contains(tail, "last-words-before-failing") {
		t.Errorf("tail of output %q does not hold the failing step's last line", tail)
	}
	failed := ev.kinds("failed")
	if len(failed) != 1 || !strings.Contains(failed[0].Error, "last-words-before-failing") ||
		!strings.Contains(failed[0].Error, "stage app") {
		t.Errorf("failed events %+v: want one naming stage app with the last lines of output", failed)
	}

	p := pr.load()
	if _, err := pr.store.Latest(p.Name, "app@local"); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("Latest(app@local) after a failure: %v, want ErrNotFound", err)
	}
	if _, err := pr.store.Latest(p.Name, "base@local"); err != nil {
		t.Errorf("Latest(base@local): %v", err)
	}
	assertNoMounts(t, pr.store.Dir())
	assertNoMarkerProcs(t, marker, pr.store.Dir())
	assertEmptyDir(t, filepath.Join(pr.store.Dir(), "work"))

	// A fixed provisioner builds app; base stays cached.
	pr.write("pipe.yaml", strings.Replace(fmt.Sprintf(failing, marker), "- exit 3", "- exit 0", 1))
	res2, _ := pr.run()
	if got := statuses(res2); got != "base@local=cached app@local=built" {
		t.Errorf("after the fix: %s", got)
	}
}

func uniqueMarker(what string) string {
	return fmt.Sprintf("pipe-test-%s-%d-%d", what, os.Getpid(), time.Now().UnixNano())
}

// leaky runs a command that leaves a background process behind, then MAIN.
const leaky = `name: bb
builders:
  local:
    type: local
    source: { rootfs: { path: rootfs.tar } }
stages:
  app:
    provision:
      - shell:
          inline:
            - (sleep 300 &)
            - %s
          env: { MARKER: "%s" }
`

// TestNoLeaks: after a successful run, a failed provisioner and a cancelled
// run, no mount mentions the store and no process started by a provisioner
// is left (each carries a unique marker in its environment).
func TestNoLeaks(t *testing.T) {
	for _, tc := range []struct {
		name, main string
		cancel     bool
		want       pipeline.Status
	}{
		{"success", "true", false, pipeline.StatusBuilt},
		{"failure", "exit 7", false, pipeline.StatusFailed},
		{"cancel", "sleep 30", true, pipeline.StatusNotRun},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := uniqueMarker(tc.name)
			pr := newProject(t, fmt.Sprintf(leaky, tc.main, marker), nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				go func() {
					// Cancel once the provisioner's sleep 30 runs.
					for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
						for _, p := range markerProcs(marker, "") {
							if strings.Contains(p, ": sleep 30 ") {
								cancel()
								return
							}
						}
						time.Sleep(20 * time.Millisecond)
					}
				}()
			}
			start := time.Now()
			res, ev := pr.runIn(ctx, pr.store)
			took := time.Since(start)
			if got := node(t, res, "app@local").Status; got != tc.want {
				for _, e := range ev.all {
					t.Logf("event: %+v", e)
				}
				t.Fatalf("app: %s, want %s", got, tc.want)
			}
			if tc.cancel {
				if !res.Interrupted {
					t.Errorf("the run was not reported as interrupted")
				}
				if took > 25*time.Second {
					t.Errorf("the cancelled run took %s: the provisioner was not stopped", took)
				}
				if len(ev.kinds("interrupted")) != 1 {
					t.Errorf("interrupted events: %+v", ev.kinds("interrupted"))
				}
			}
			assertNoMounts(t, pr.store.Dir())
			assertNoMarkerProcs(t, marker, pr.store.Dir())
			assertEmptyDir(t, filepath.Join(pr.store.Dir(), "work"))
			if tc.want != pipeline.StatusBuilt {
				if _, err := pr.store.Latest("bb", "app@local"); !errors.Is(err, cache.ErrNotFound) {
					t.Errorf("Latest(app@local): %v, want ErrNotFound", err)
				}
			}
		})
	}
}

// planted plants a symlink to /etc, then writes and reads through it.
const planted = `name: bb
builders:
  local:
    type: local
    source: { rootfs: { path: rootfs.tar } }
stages:
  app:
    provision:
      - shell: { inline: ["ln -s /etc /planted"] }
      - file:  { content: "planted\n", destination: /planted/%s }
      - file:  { source: /planted/passwd, destination: got-passwd, direction: download }
    outputs:
      - rootfs: out/rootfs.tar
`

// TestPlantedSymlink: paths in the machine resolve inside the image, never
// on the host: an upload through a planted /planted → /etc lands in the
// image's /etc, and a download through it reads the image's passwd.
func TestPlantedSymlink(t *testing.T) {
	name := uniqueMarker("planted")
	hostFile := filepath.Join("/etc", name)
	if _, err := os.Lstat(hostFile); err == nil {
		t.Fatalf("%s exists before the test", hostFile)
	}
	t.Cleanup(func() { os.Remove(hostFile) })
	hostPasswd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	pr := newProject(t, fmt.Sprintf(planted, name), nil)
	res, ev := pr.runIn(context.Background(), pr.store)
	app := node(t, res, "app@local")

	if _, err := os.Lstat(hostFile); err == nil {
		t.Errorf("the upload through /planted wrote the host's %s", hostFile)
	}
	got, err := os.ReadFile(pr.path("got-passwd"))
	if err == nil && string(got) == string(hostPasswd) {
		t.Errorf("the download through /planted returned the host's /etc/passwd")
	}
	if app.Status != pipeline.StatusBuilt {
		// Refusing to follow the symlink is also safe.
		t.Logf("app: %s: %v\n%s", app.Status, app.Err, ev.log("app@local"))
		return
	}
	if err != nil {
		t.Fatalf("app built but the download is missing: %v", err)
	}
	if string(got) != imagePasswd {
		t.Errorf("downloaded passwd = %q, want the image's %q", got, imagePasswd)
	}
	names := tarNames(t, pr.path("out/rootfs.tar"))
	if _, ok := names["etc/"+name]; !ok {
		t.Errorf("the upload is not in the image's /etc: %v", keys(names))
	}
	if h, ok := names["planted"]; !ok || h.Linkname != "/etc" {
		t.Errorf("the image has no /planted → /etc symlink: %+v", h)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// imageConfig sets every image config field on app.
const imageConfig = `name: bb
builders:
  local:
    type: local
    source: { rootfs: { path: rootfs.tar } }
stages:
  app:
    provision:
      - shell: { inline: ["mkdir -p /srv"] }
    image:
      entrypoint: ["/bin/sh", "-c"]
      cmd: ["echo hello"]
      env: { GREETING: "hello world", LANG: C.UTF-8 }
      workdir: /srv
      user: nobody
      labels: { org.opencontainers.image.version: "1.2.3", team: images }
      exposed_ports: ["8080", "53/udp"]
    outputs:
      - oci: out/oci
        tag: v1
`

// TestImageConfig: the image: settings show up in the OCI config as skopeo
// reads it, with a default PATH.
func TestImageConfig(t *testing.T) {
	pr := newProject(t, imageConfig, nil)
	res, _ := pr.run()
	m := skopeoJSON(t, "--config", "oci:"+pr.path("out/oci")+":v1")
	cfg, _ := m["config"].(map[string]any)
	if cfg == nil {
		t.Fatalf("no config in %v", m)
	}
	check := func(field string, want any) {
		t.Helper()
		if got := cfg[field]; !reflect.DeepEqual(got, want) {
			t.Errorf("config.%s = %#v, want %#v", field, got, want)
		}
	}
	check("Entrypoint", []any{"/bin/sh", "-c"})
	check("Cmd", []any{"echo hello"})
	check("WorkingDir", "/srv")
	check("User", "nobody")
	check("Labels", map[string]any{"org.opencontainers.image.version": "1.2.3", "team": "images"})
	check("ExposedPorts", map[string]any{"8080/tcp": map[string]any{}, "53/udp": map[string]any{}})
	env := fmt.Sprint(cfg["Env"])
	for _, want := range []string{"PATH=/", "GREETING=hello world", "LANG=C.UTF-8"} {
		if !strings.Contains(env, want) {
			t.Errorf("config.Env %s lacks %q", env, want)
		}
	}
	if m["os"] != "linux" || m["architecture"] == "" {
		t.Errorf("config os/architecture = %v/%v", m["os"], m["architecture"])
	}
	// skopeo's digest of the tagged image is the artifact's.
	top := skopeoJSON(t, "oci:"+pr.path("out/oci")+":v1")
	if got, want := top["Digest"], node(t, res, "app@local").Artifact.ID; got != want {
		t.Errorf("skopeo digest %v, artifact %s", got, want)
	}
}

// dirty leaves what the default clean-up removes.
const dirty = `name: bb
builders:
  local:
    type: local
    source: { rootfs: { path: rootfs.tar } }
stages:
  app:
    provision:
      - shell:
          inline:
            - printf 'abcdef0123456789abcdef0123456789\n' > /etc/machine-id
            - mkdir -p /var/log/app /var/tmp
            - echo log > /var/log/x.log
            - echo log > /var/log/app/y.log
            - echo junk > /tmp/junk
            - echo junk > /tmp/.hidden
            - echo junk > /var/tmp/junk
            - echo kept > /kept.txt
    %s
    outputs:
      - oci: out/oci
        tag: t
`

// TestCleanup: by default the machine id is emptied and logs and temporary
// files are removed before capture (directories stay); cleanup: false keeps
// them.
func TestCleanup(t *testing.T) {
	requireTool(t, "umoci", "umoci")
	t.Run("default", func(t *testing.T) {
		pr := newProject(t, fmt.Sprintf(dirty, ""), nil)
		pr.run()
		root := umociUnpack(t, pr.path("out/oci")+":t")
		assertFile(t, root, "etc/machine-id", "")
		assertFile(t, root, "kept.txt", "kept\n")
		for _, gone := range []string{"var/log/x.log", "var/log/app/y.log", "tmp/junk", "tmp/.hidden", "var/tmp/junk"} {
			assertAbsent(t, root, gone)
		}
		for _, dir := range []string{"var/log/app", "tmp"} {
			if fi, err := os.Stat(filepath.Join(root, dir)); err != nil || !fi.IsDir() {
				t.Errorf("directory %s should stay: %v", dir, err)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		pr := newProject(t, fmt.Sprintf(dirty, "image: { cleanup: false }"), nil)
		pr.run()
		root := umociUnpack(t, pr.path("out/oci")+":t")
		assertFile(t, root, "etc/machine-id", "abcdef0123456789abcdef0123456789\n")
		assertFile(t, root, "var/log/x.log", "log\n")
		assertFile(t, root, "var/log/app/y.log", "log\n")
		assertFile(t, root, "tmp/junk", "junk\n")
		assertFile(t, root, "var/tmp/junk", "junk\n")
	})
}

func assertFile(t *testing.T, root, name, want string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	if string(got) != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
}

func assertAbsent(t *testing.T, root, name string) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(root, name)); err == nil {
		t.Errorf("%s is in the image, want it absent", name)
	} else if !os.IsNotExist(err) {
		t.Errorf("%s: %v", name, err)
	}
}

// outputs writes app to every kind of output.
const outputs = `name: bb
variables:
  registry: { type: string }
builders:
  local:
    type: local
    source: { rootfs: { path: rootfs.tar } }
stages:
  base:
    provision:
      - shell: { inline: ["rm /etc/motd", "echo base > /base.txt"] }
  app:
    from: base
    provision:
      - shell: { inline: ["mkdir -p /srv", "echo app > /srv/app.txt"] }
    outputs:
      - oci: out/oci
        tag: "1.0"
      - oci_archive: out/app-oci.tar
        tag: "1.0"
      - docker_archive: out/app-docker.tar
        tag: "pipe/app:1.0"
      - rootfs: out/rootfs.tar
      - registry: "${{ vars.registry }}/test/app:1.0"
        insecure: true
`

// TestOutputs writes every output kind and reads each with skopeo, umoci or
// a tar reader.
func TestOutputs(t *testing.T) {
	requireTool(t, "skopeo", "skopeo")
	requireTool(t, "umoci", "umoci")
	requireLocal(t)
	addr := registrytest.Start(t)
	pr := newProject(t, outputs, nil)
	res, _ := pr.run("registry=" + addr)
	app := node(t, res, "app@local").Artifact

	// Three layers: the rootfs, base and app.
	layers := func(m map[string]any) int { l, _ := m["Layers"].([]any); return len(l) }
	for _, ref := range []string{
		"oci:" + pr.path("out/oci") + ":1.0",
		"oci-archive:" + pr.path("out/app-oci.tar"),
		"docker-archive:" + pr.path("out/app-docker.tar"),
	} {
		m := skopeoJSON(t, ref)
		if n := layers(m); n != 3 {
			t.Errorf("%s: %d layers, want 3: %v", ref, n, m["Layers"])
		}
		if !strings.HasPrefix(ref, "docker-archive:") && m["Digest"] != app.ID {
			t.Errorf("%s: digest %v, artifact %s", ref, m["Digest"], app.ID)
		}
		if m["Os"] != "linux" {
			t.Errorf("%s: os %v", ref, m["Os"])
		}
	}
	// skopeo does not list a docker archive's tags; docker load reads
	// them from manifest.json.
	dm := command(t, "tar", "-xOf", pr.path("out/app-docker.tar"), "manifest.json")
	if !strings.Contains(string(dm), `"pipe/app:1.0"`) {
		t.Errorf("docker archive manifest.json does not tag pipe/app:1.0: %s", dm)
	}

	m := skopeoJSON(t, "--tls-verify=false", "docker://"+addr+"/test/app:1.0")
	if n := layers(m); n != 3 {
		t.Errorf("registry: %d layers, want 3", n)
	}
	if m["Digest"] != app.ID {
		t.Errorf("registry digest %v, artifact %s", m["Digest"], app.ID)
	}

	root := umociUnpack(t, pr.path("out/oci")+":1.0")
	assertAbsent(t, root, "etc/motd") // deleted in base
	assertFile(t, root, "srv/app.txt", "app\n")
	assertFile(t, root, "base.txt", "base\n")
	assertFile(t, root, "etc/passwd", imagePasswd)
	if fi, err := os.Lstat(filepath.Join(root, "bin/sh")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("bin/sh is not a symlink: %v %v", fi, err)
	}

	names := tarNames(t, pr.path("out/rootfs.tar"))
	for _, want := range []string{"bin/busybox", "bin/sh", "etc/passwd", "base.txt", "srv/app.txt"} {
		if _, ok := names[want]; !ok {
			t.Errorf("rootfs tar lacks %s", want)
		}
	}
	for name := range names {
		if name == "etc/motd" || strings.Contains(name, ".wh.") {
			t.Errorf("rootfs tar holds %s", name)
		}
	}

	// A cached run writes the outputs again.
	if err := os.RemoveAll(pr.path("out")); err != nil {
		t.Fatal(err)
	}
	res2, _ := pr.run("registry=" + addr)
	if got := statuses(res2); got != "base@local=cached app@local=cached" {
		t.Fatalf("second run: %s", got)
	}
	if _, ok := tarNames(t, pr.path("out/rootfs.tar"))["srv/app.txt"]; !ok {
		t.Errorf("the cached run did not write the rootfs output again")
	}
	if got := skopeoJSON(t, "oci:"+pr.path("out/oci")+":1.0")["Digest"]; got != app.ID {
		t.Errorf("oci output after the cached run: digest %v, want %s", got, app.ID)
	}
}
