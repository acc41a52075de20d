package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

var testEpoch = time.Unix(1700000000, 0)

// requireTool returns the path of an external tool, skipping the test when
// it is missing unless PIPE_REQUIRE_INTEGRATION=1.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := name + " is not installed (apt-get install " + pkg + ")"
		if os.Getenv("PIPE_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "local"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// busyboxTar returns a small rootfs tar: /bin/busybox (the host's static
// busybox, or a stand-in), a symlink, a device node, a file and a whiteout
// that must not survive.
func busyboxTar(t *testing.T) []byte {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		bb = []byte("#!/bin/sh\necho not really busybox\n")
	}
	mt := time.Unix(1800000000, 0) // after testEpoch: must be clamped
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))},
		{Name: "./bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox"},
		{Name: "./dev/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
		{Name: "./etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./etc/hostname", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5},
		{Name: "./etc/.wh.gone", Typeflag: tar.TypeReg, Mode: 0o600},
	} {
		h.ModTime = mt
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		switch h.Name {
		case "./bin/busybox":
			tw.Write(bb)
		case "./etc/hostname":
			tw.Write([]byte("pipe\n"))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeTarball writes data to a file in dir, compressed as asked.
func writeTarball(t *testing.T, dir, name, compression string, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch compression {
	case "gzip":
		w = pgzip.NewWriter(&buf)
	case "zstd":
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	default:
		w = nopWriteCloser{&buf}
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// busyboxBase resolves a Rootfs source made from busyboxTar in s.
func busyboxBase(t *testing.T, s *Store) *Base {
	t.Helper()
	path := writeTarball(t, t.TempDir(), "rootfs.tar", "", busyboxTar(t))
	base, err := Rootfs{Path: path}.Resolve(context.Background(), s, ResolveOptions{SourceDateEpoch: testEpoch})
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// countingTransport counts blob requests.
type countingTransport struct {
	inner http.RoundTripper
	blobs atomic.Int64
}

func newCountingTransport() *countingTransport {
	return &countingTransport{inner: remote.DefaultTransport.(*http.Transport).Clone()}
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
		c.blobs.Add(1)
	}
	return c.inner.RoundTrip(r)
}

// skopeoInspect runs `skopeo inspect` on a transport:reference.
func skopeoInspect(t *testing.T, args ...string) map[string]any {
	t.Helper()
	skopeo := requireTool(t, "skopeo", "skopeo")
	out, err := exec.Command(skopeo, append([]string{"inspect"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("skopeo inspect output: %v\n%s", err, out)
	}
	return m
}
