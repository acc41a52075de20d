package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Helpers for the local-builder benchmarks (local_test.go): root and tool
// checks, the generated 500 MB tree, the cached minbase tarball and a
// buildah wrapper that never touches the system's container store.

// localDir is where the local-builder benchmarks keep their inputs and
// stores; bump the version when a layout changes.
func localDir() string { return filepath.Join(benchRoot(), "local-v1") }

// needRoot skips unless the process is root (overlayfs, chroot, buildah).
func needRoot(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("the local builder and buildah need root")
	}
}

// needTools skips with a message naming every missing program. Benchmarks
// are not part of CI, so .ci/setup.sh does not install these.
func needTools(b *testing.B, names ...string) {
	b.Helper()
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		b.Skipf("missing %s on PATH (apt-get install -y buildah runc pigz zstd mmdebstrap)", strings.Join(missing, ", "))
	}
}

// sh runs a shell script in dir and returns its wall time.
func sh(b *testing.B, dir, script string) time.Duration {
	b.Helper()
	return run(b, dir, "/bin/sh", "-ec", script).wall
}

// ---- the 500 MB upper dir ----

const commitTreeBytes = 500 << 20

// commitTree returns a directory of about 500 MB in a few thousand files,
// shaped like a provisioned upper dir (the same mix as
// builders/local/layer's makeBenchTree): mostly text-like files of 4–68 KB
// with their own random words, 1 in 50 a large file of 0.25–2.25 MB, a
// fifth incompressible random bytes, a tenth zeros. Generated once and
// kept under localDir.
func commitTree(b *testing.B) (dir string, size int64) {
	b.Helper()
	dir = filepath.Join(localDir(), "tree500")
	stamp := filepath.Join(localDir(), "tree500.complete")
	if data, err := os.ReadFile(stamp); err == nil {
		if _, err := fmt.Sscan(string(data), &size); err == nil {
			return dir, size
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(500, 1))
	vocab := make([]string, 2000)
	for i := range vocab {
		w := make([]byte, 3+rng.IntN(8))
		for j := range w {
			w[j] = byte('a' + rng.IntN(26))
		}
		vocab[i] = string(w)
	}
	files := 0
	for i := 0; size < commitTreeBytes; i++ {
		n := 4<<10 + rng.IntN(64<<10)
		if rng.IntN(50) == 0 {
			n = 256<<10 + rng.IntN(2<<20)
		}
		n = int(min(int64(n), commitTreeBytes-size))
		var body []byte
		switch rng.IntN(10) {
		case 0, 1:
			body = make([]byte, n)
			for k := 0; k+8 <= n; k += 8 {
				v := rng.Uint64()
				for j := range 8 {
					body[k+j] = byte(v >> (8 * j))
				}
			}
		case 2:
			body = make([]byte, n)
		default:
			body = wordsBody(rng, vocab, n)
		}
		p := filepath.Join(dir, fmt.Sprintf("usr/share/d%02d/s%d/f%05d", i%40, i%7, i))
		if err := writeFile(p, body, 0o644); err != nil {
			b.Fatal(err)
		}
		size += int64(n)
		files++
	}
	if err := os.WriteFile(stamp, []byte(fmt.Sprint(size)), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %s: %d files, %d bytes in %s", dir, files, size, time.Since(start).Round(time.Millisecond))
	return dir, size
}

func wordsBody(rng *rand.Rand, vocab []string, n int) []byte {
	var sb strings.Builder
	sb.Grow(n + 16)
	for sb.Len() < n {
		sb.WriteString(vocab[rng.IntN(len(vocab))])
		if rng.IntN(10) == 0 {
			sb.WriteByte('\n')
		} else {
			sb.WriteByte(' ')
		}
	}
	return []byte(sb.String()[:n])
}

// ---- the minbase tarball ----

// minbaseTar makes dir/base.tar with mmdebstrap (bookworm, minbase,
// SOURCE_DATE_EPOCH=0, the host's apt sources) once, and returns its path.
func minbaseTar(b *testing.B, dir string) string {
	b.Helper()
	p := filepath.Join(dir, "base.tar")
	if fileExists(p) {
		return p
	}
	needTools(b, "mmdebstrap")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	tmp := p + ".tmp"
	cmd := exec.Command("mmdebstrap", "--quiet", "--variant=minbase", "--format=tar", "bookworm", tmp)
	cmd.Env = append(cleanEnv(), "SOURCE_DATE_EPOCH=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		b.Fatalf("mmdebstrap: %v\n%s", err, tail(string(out), 20))
	}
	if err := os.Rename(tmp, p); err != nil {
		b.Fatal(err)
	}
	return p
}

// ---- buildah ----

// buildah runs buildah against a private store under root (its own
// --root and --runroot, overlay driver, chroot isolation), so the
// system's /var/lib/containers is never touched.
type buildah struct {
	root string
}

func (h buildah) args(sub string, rest ...string) []string {
	a := []string{"buildah", "--root", filepath.Join(h.root, "root"), "--runroot", filepath.Join(h.root, "runroot"),
		"--storage-driver", "overlay", sub}
	return append(a, rest...)
}

// run runs a buildah sub-command in dir and returns its result.
func (h buildah) run(b *testing.B, dir, sub string, rest ...string) runResult {
	b.Helper()
	return run(b, dir, h.args(sub, rest...)...)
}

// reset deletes the whole private store (containers, images, layer
// cache, blob-info cache). buildah leaves overlay mounts behind under the
// store; unmount them first.
func (h buildah) reset(b *testing.B) {
	b.Helper()
	if fileExists(filepath.Join(h.root, "root")) {
		tryRun("/", h.args("rm", "--all")...)
		tryRun("/", h.args("rmi", "--all", "--force")...)
	}
	unmountUnder(b, h.root)
	if err := os.RemoveAll(h.root); err != nil {
		b.Fatal(err)
	}
}

// unmountUnder lazily unmounts every mount point below dir, deepest first.
func unmountUnder(b *testing.B, dir string) {
	b.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		b.Fatal(err)
	}
	var points []string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		exec.Command("umount", "-l", points[i]).Run()
	}
}
