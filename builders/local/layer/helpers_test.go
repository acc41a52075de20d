package layer

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// epoch is the SOURCE_DATE_EPOCH of the tests.
var epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// needRoot skips a test that needs root (mknod, chown, trusted.* xattrs),
// or fails it when PIPE_REQUIRE_INTEGRATION=1 says the machine must run it.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root (mknod, chown, trusted.* xattrs); run the tests as root")
	}
}

func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("PIPE_REQUIRE_INTEGRATION") == "1" {
		t.Fatal(msg + " (PIPE_REQUIRE_INTEGRATION=1)")
	}
	t.Skip(msg)
}

// tarEntry is one entry of a tar written by a test.
type tarEntry struct {
	hdr  tar.Header
	body string
}

func reg(name, body string, mode int64) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, ModTime: epoch}, body: body}
}

func dirEnt(name string, mode int64) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: epoch}}
}

func symEnt(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: epoch}}
}

func linkEnt(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: epoch}}
}

// mkTar writes entries as an uncompressed PAX tar.
func mkTar(t testing.TB, entries ...tarEntry) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.Size = int64(len(e.body))
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("write %s: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(buf.Bytes())
}

// readLayer returns the headers of l's tar, in order, and the bodies of its
// regular files by name.
func readLayer(t testing.TB, l v1.Layer) ([]*tar.Header, map[string]string) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var hdrs []*tar.Header
	bodies := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, bodies
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, h)
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			bodies[h.Name] = string(b)
		}
	}
}

func headerByName(hdrs []*tar.Header, name string) *tar.Header {
	for _, h := range hdrs {
		if h.Name == name {
			return h
		}
	}
	return nil
}

func writeFile(t testing.TB, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	// unix.Chmod, not os.Chmod: past the umask, and 0o4000 is setuid here
	// while os.FileMode spells it ModeSetuid.
	if err := unix.Chmod(path, uint32(mode)); err != nil {
		t.Fatal(err)
	}
}

func lstat(t testing.TB, path string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func getxattr(t testing.TB, path, name string) string {
	t.Helper()
	v, err := getXattr(path, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
