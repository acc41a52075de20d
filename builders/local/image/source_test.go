package image

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pipebuild/pipe/builders/local/image/registrytest"
)

func TestScratch(t *testing.T) {
	s := openStore(t)
	base, err := Scratch{}.Resolve(context.Background(), s, ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := base.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Errorf("config os/arch = %q/%q, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
	}
	if layers, _ := base.Image.Layers(); len(layers) != 0 {
		t.Errorf("%d layers, want none", len(layers))
	}
	if lowers, err := s.Lowers(context.Background(), base.Image); err != nil || len(lowers) != 0 {
		t.Errorf("Lowers = %q, %v", lowers, err)
	}
	if !s.Has(base.Digest) {
		t.Error("Has(scratch) = false")
	}
}

func TestImageSource(t *testing.T) {
	addr := registrytest.Start(t)
	pushed := busyboxBase(t, openStore(t))
	ref := addr + "/pipe/base:1"
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, pushed.Image); err != nil {
		t.Fatal(err)
	}

	s := openStore(t)
	ct := newCountingTransport()
	opts := ResolveOptions{Remote: RemoteOptions{Transport: ct}}
	src := Image{Ref: ref, Insecure: true}
	base, err := src.Resolve(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	if base.Digest != pushed.Digest {
		t.Errorf("resolved %s, pushed %s", base.Digest, pushed.Digest)
	}
	if got := base.Key[1]; got != (KeyLine{"digest", pushed.Digest.String()}) {
		t.Errorf("key line %v, want the digest", got)
	}
	if ct.blobs.Load() == 0 {
		t.Error("first resolve fetched no blobs")
	}
	lowers, err := s.Lowers(context.Background(), base.Image)
	if err != nil || len(lowers) != 1 {
		t.Fatalf("Lowers = %q, %v", lowers, err)
	}

	ct.blobs.Store(0)
	again, err := src.Resolve(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := ct.blobs.Load(); n != 0 {
		t.Errorf("second resolve fetched %d blobs, want 0", n)
	}
	if again.Digest != base.Digest {
		t.Errorf("second resolve gave %s", again.Digest)
	}
}

func TestImageSourceNetworkError(t *testing.T) {
	ref := "127.0.0.1:1/nothing:here"
	_, err := Image{Ref: ref, Insecure: true}.Resolve(context.Background(), openStore(t), ResolveOptions{})
	if err == nil || !strings.Contains(err.Error(), ref) {
		t.Errorf("err = %v, want one naming %s", err, ref)
	}
}

func TestDebootstrapMissingTool(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Debootstrap{Suite: "bookworm"}.Resolve(context.Background(), openStore(t), ResolveOptions{})
	if err == nil || !strings.Contains(err.Error(), "mmdebstrap is not installed: apt-get install mmdebstrap") {
		t.Errorf("err = %v", err)
	}
}

func TestDebootstrapArgs(t *testing.T) {
	src := Debootstrap{Suite: "bookworm", Components: []string{"main", "contrib"},
		Include: []string{"curl", "ca-certificates", "curl"}, Mirror: "http://mirror.example.org/debian", Arch: "arm64"}.normalized()
	got := strings.Join(src.args("out.tar"), " ")
	want := "--variant=minbase --architectures=arm64 --components=main,contrib --include=ca-certificates,curl bookworm out.tar http://mirror.example.org/debian"
	if got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
	if err := (Debootstrap{Variant: "tiny"}).Validate(); err == nil || !strings.Contains(err.Error(), "suite") || !strings.Contains(err.Error(), "tiny") {
		t.Errorf("Validate = %v, want both problems", err)
	}
}
