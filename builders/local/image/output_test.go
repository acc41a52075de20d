package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/pipebuild/pipe/builders/local/image/registrytest"
)

func writeOutput(t *testing.T, base *Base, out Output, dir string) {
	t.Helper()
	if err := Write(context.Background(), base.Image, out, WriteOptions{BaseDir: dir}); err != nil {
		t.Fatal(err)
	}
}

func checkInspect(t *testing.T, m map[string]any, base *Base, wantDigest bool) {
	t.Helper()
	if m["Os"] != "linux" {
		t.Errorf("skopeo: Os = %v", m["Os"])
	}
	if layers, _ := m["Layers"].([]any); len(layers) != 1 {
		t.Errorf("skopeo: Layers = %v, want one", m["Layers"])
	}
	if wantDigest && m["Digest"] != base.Digest.String() {
		t.Errorf("skopeo: Digest = %v, want %s", m["Digest"], base.Digest)
	}
}

func TestOutputOCI(t *testing.T) {
	s := openStore(t)
	base := busyboxBase(t, s)
	scratch, err := Scratch{}.Resolve(context.Background(), s, ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := Output{OCI: "out/layout", Tag: "v1"}
	writeOutput(t, scratch, out, dir) // replaced by the next write
	writeOutput(t, base, out, dir)
	writeOutput(t, scratch, Output{OCI: "out/layout", Tag: "other"}, dir)
	layoutDir := filepath.Join(dir, "out/layout")

	idx, err := layout.Path(layoutDir).ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	if len(m.Manifests) != 2 {
		t.Errorf("index has %d images, want 2 (v1 replaced, other added)", len(m.Manifests))
	}
	checkInspect(t, skopeoInspect(t, "oci:"+layoutDir+":v1"), base, true)
	blobs, _ := os.ReadDir(filepath.Join(layoutDir, "blobs/sha256"))
	// base: manifest, config, layer; scratch: manifest, config (its
	// created-less config and manifest are shared by both scratch writes).
	if len(blobs) != 5 {
		t.Errorf("layout holds %d blobs, want 5 (replaced image not collected?)", len(blobs))
	}

	defer func() {
		writeOutput(t, scratch, out, dir) // base's blobs are no longer used
		blobs, _ := os.ReadDir(filepath.Join(layoutDir, "blobs/sha256"))
		if len(blobs) != 2 {
			t.Errorf("layout holds %d blobs, want scratch's 2", len(blobs))
		}
	}()

	umoci := requireTool(t, "umoci", "umoci")
	bundle := filepath.Join(t.TempDir(), "bundle")
	if out, err := exec.Command(umoci, "unpack", "--image", layoutDir+":v1", bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(bundle, "rootfs/bin/busybox")); err != nil {
		t.Errorf("umoci bundle: %v", err)
	}
}

func TestOutputArchives(t *testing.T) {
	base := busyboxBase(t, openStore(t))
	dir := t.TempDir()
	writeOutput(t, base, Output{OCIArchive: "oci.tar"}, dir)
	checkInspect(t, skopeoInspect(t, "oci-archive:"+filepath.Join(dir, "oci.tar")), base, true)

	writeOutput(t, base, Output{DockerArchive: "docker.tar", Tag: "pipe/test:1"}, dir)
	m := skopeoInspect(t, "docker-archive:"+filepath.Join(dir, "docker.tar"))
	checkInspect(t, m, base, false) // docker-archive digests are skopeo's own
	// skopeo finds the image by the name recorded in the archive.
	m = skopeoInspect(t, "docker-archive:"+filepath.Join(dir, "docker.tar")+":pipe/test:1")
	checkInspect(t, m, base, false)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

func TestOutputRootfs(t *testing.T) {
	base := busyboxBase(t, openStore(t))
	dir := t.TempDir()
	writeOutput(t, base, Output{Rootfs: filepath.Join(dir, "rootfs.tar")}, "/nonexistent")
	tar := requireTool(t, "tar", "tar")
	out, err := exec.Command(tar, "-tf", filepath.Join(dir, "rootfs.tar")).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -tf: %v\n%s", err, out)
	}
	for _, want := range []string{"bin/busybox", "bin/sh", "etc/hostname"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rootfs tar lacks %s:\n%s", want, out)
		}
	}
}

func TestOutputRegistry(t *testing.T) {
	addr := registrytest.Start(t)
	base := busyboxBase(t, openStore(t))
	ref := addr + "/pipe/out:1"
	writeOutput(t, base, Output{Registry: ref, Insecure: true}, "")
	checkInspect(t, skopeoInspect(t, "--tls-verify=false", "docker://"+ref), base, true)

	bad := "127.0.0.1:1/pipe/out:1"
	err := Write(context.Background(), base.Image, Output{Registry: bad, Insecure: true}, WriteOptions{})
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("push to nowhere: err = %v, want one naming %s", err, bad)
	}
}

func TestOutputValidate(t *testing.T) {
	for _, tc := range []struct {
		out  Output
		want string // substring of the error; "" for none
	}{
		{Output{OCI: "d"}, ""},
		{Output{OCI: "d", Tag: "v1"}, ""},
		{Output{DockerArchive: "f.tar", Tag: "app:1"}, ""},
		{Output{Registry: "localhost:5000/a:1", Insecure: true}, ""},
		{Output{}, "exactly one"},
		{Output{OCI: "d", Rootfs: "f.tar"}, "exactly one"},
		{Output{Registry: "r/a:1", Tag: "v1"}, "tag is not used with registry"},
		{Output{OCI: "d", Insecure: true}, "insecure is only used with registry"},
		{Output{Rootfs: "f.tar", Tag: "x"}, "tag is not used with rootfs"},
		{Output{Registry: "UPPER/case"}, "registry UPPER/case"},
	} {
		err := tc.out.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Validate = %v, want %q", tc.out, err, tc.want)
		}
	}
}
