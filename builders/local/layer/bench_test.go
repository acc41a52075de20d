package layer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// benchTreeBytes is the size of the tree the Capture benchmarks commit.
// PIPE_BENCH_TREE_MB overrides it (the product benchmark is 500).
var benchTreeBytes = benchSizeFromEnv(64 << 20)

func benchSizeFromEnv(def int64) int64 {
	if mb, err := strconv.ParseInt(os.Getenv("PIPE_BENCH_TREE_MB"), 10, 64); err == nil && mb > 0 {
		return mb << 20
	}
	return def
}

// makeBenchTree writes about size bytes in a few thousand files, shaped like
// a provisioned upper dir: mostly text-like files of a few KB (configs,
// scripts, docs), some larger, a fifth incompressible (binaries that are
// already compressed), a tenth runs of zeros. Every file has its own
// random words, so no compressor window sees repeats a real tree lacks.
func makeBenchTree(tb testing.TB, dir string, size int64) int64 {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := make([]string, 2000)
	for i := range vocab {
		w := make([]byte, 3+rng.IntN(8))
		for j := range w {
			w[j] = byte('a' + rng.IntN(26))
		}
		vocab[i] = string(w)
	}
	var total int64
	for i := 0; total < size; i++ {
		n := 1<<10 + rng.IntN(16<<10)
		if rng.IntN(50) == 0 {
			n = 256<<10 + rng.IntN(2<<20)
		}
		n = int(min(int64(n), size-total))
		var body []byte
		switch rng.IntN(10) {
		case 0, 1:
			body = make([]byte, n)
			for k := range body {
				body[k] = byte(rng.Uint32())
			}
		case 2:
			body = make([]byte, n)
		default:
			body = textBody(rng, vocab, n)
		}
		p := filepath.Join(dir, fmt.Sprintf("d%02d/s%d/f%05d", i%40, i%7, i))
		writeFile(tb, p, string(body), 0o644)
		total += int64(n)
	}
	return total
}

func textBody(rng *rand.Rand, vocab []string, n int) []byte {
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

func BenchmarkCaptureGzip(b *testing.B) { benchCapture(b, Gzip) }
func BenchmarkCaptureZstd(b *testing.B) { benchCapture(b, Zstd) }

func benchCapture(b *testing.B, compression string) {
	dir := b.TempDir()
	tree := filepath.Join(dir, "tree")
	size := makeBenchTree(b, tree, benchTreeBytes)
	blob := filepath.Join(dir, "blob")
	b.SetBytes(size)
	var compressed int64
	for b.Loop() {
		l, err := Capture(context.Background(), tree, CaptureOptions{Path: blob, SourceDateEpoch: epoch, Compression: compression})
		if err != nil {
			b.Fatal(err)
		}
		compressed, _ = l.Size()
	}
	b.ReportMetric(float64(compressed)/float64(size), "ratio")
}

// BenchmarkTarPipe is the yardstick: the same tree through tar and an
// external compressor, for each compressor found on PATH.
func BenchmarkTarPipe(b *testing.B) {
	dir := b.TempDir()
	tree := filepath.Join(dir, "tree")
	size := makeBenchTree(b, tree, benchTreeBytes)
	for _, c := range []struct{ name, cmd string }{
		{"pigz", "pigz"}, {"gzip", "gzip"}, {"zstd", "zstd -q -T0"},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := exec.LookPath(c.name); err != nil {
				b.Skipf("no %s on PATH", c.name)
			}
			out := filepath.Join(dir, "out")
			script := fmt.Sprintf("tar -cf - -C %s . | %s > %s", tree, c.cmd, out)
			b.SetBytes(size)
			for b.Loop() {
				if o, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
					b.Fatalf("%s: %v\n%s", script, err, o)
				}
			}
			if fi, err := os.Stat(out); err == nil {
				b.ReportMetric(float64(fi.Size())/float64(size), "ratio")
			}
		})
	}
}
