package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipebuild/pipe/builders/all"
	"github.com/pipebuild/pipe/pipeline"
	"github.com/pipebuild/pipe/pipeline/cache"
	stagesall "github.com/pipebuild/pipe/stages/all"
)

// The no-op pipeline: noopStages stages that together key noopStages*noopFiles
// files of noopFileSize bytes (500 × 40 × 10 KiB = 20,000 files, 205 MB).
// Even stages are roots whose null-builder source directory is their data
// directory (the key walks the directory); odd stages sit on the stage
// before them and run that directory's 40 files as shell-local `scripts:`
// (the key hashes each listed file). Both ways a key can hash files are
// exercised, on the same bytes the anchor hashes.
const (
	noopStages   = 500
	noopFiles    = 40
	noopFileSize = 10 * 1024
	// noopVersion names the generated tree; bump it when the layout changes.
	noopVersion = "noop500-v1"
	// noopSamples interleaved pipe/anchor pairs per iteration; the best of
	// each is compared, the usual way to time warm-cache work.
	noopSamples = 3
)

var (
	noopOnce sync.Once
	noopDir  string
	noopErr  error
)

// noopTree returns the generated no-op pipeline's directory, generating it
// on first use (kept under benchRoot across benchmark processes).
func noopTree(b *testing.B) string {
	b.Helper()
	noopOnce.Do(func() { noopDir, noopErr = generateNoop(filepath.Join(benchRoot(), noopVersion)) })
	if noopErr != nil {
		b.Fatal(noopErr)
	}
	return noopDir
}

func generateNoop(dir string) (string, error) {
	stamp := filepath.Join(dir, ".complete")
	if fileExists(stamp) {
		return dir, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	var y strings.Builder
	fmt.Fprintf(&y, "name: bench-noop\nbuilders: { host: { type: null } }\nstages:\n")
	for s := range noopStages {
		data := fmt.Sprintf("data/s%03d", s)
		for f := range noopFiles {
			if err := writeFile(filepath.Join(dir, data, fmt.Sprintf("f%02d.sh", f)), noopScript(s, f), 0o755); err != nil {
				return "", err
			}
		}
		if s%2 == 0 {
			fmt.Fprintf(&y, "  s%03d: { source: { dir: %s }, provision: [ { shell-local: { inline: [\"true\"] } } ] }\n", s, data)
			continue
		}
		scripts := make([]string, noopFiles)
		for f := range scripts {
			scripts[f] = fmt.Sprintf("%s/f%02d.sh", data, f)
		}
		fmt.Fprintf(&y, "  s%03d: { from: s%03d, provision: [ { shell-local: { scripts: [%s] } } ] }\n", s, s-1, strings.Join(scripts, ", "))
	}
	if err := writeFile(filepath.Join(dir, "pipe.yaml"), []byte(y.String()), 0o644); err != nil {
		return "", err
	}
	if err := writeFile(stamp, nil, 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

// noopScript is a script that does nothing, padded with comment lines to
// exactly noopFileSize bytes and unique to its stage and index.
func noopScript(s, f int) []byte {
	const end = "exit 0\n"
	var sb strings.Builder
	sb.WriteString("#!/bin/sh\n")
	for line := 0; ; line++ {
		l := fmt.Sprintf("# stage %03d file %02d line %04d: padding padding padding padding\n", s, f, line)
		if sb.Len()+len(l)+len(end)+2 > noopFileSize {
			break
		}
		sb.WriteString(l)
	}
	rest := noopFileSize - sb.Len() - len(end) // >= 2: "#" and "\n"
	sb.WriteString("#" + strings.Repeat("-", rest-2) + "\n" + end)
	return []byte(sb.String())
}

// noopArgs is the no-op `pipe run` command line.
func noopArgs(bin, dir string) []string {
	return []string{bin, "-f", filepath.Join(dir, "pipe.yaml"), "--cache-dir", filepath.Join(dir, "cache"),
		"run", "--manifest", filepath.Join(dir, "pipe-manifest.json")}
}

var (
	warmOnce sync.Once
)

// warmNoop makes sure every node of the no-op pipeline is in the cache,
// building what is missing (the first time, 250 trees and 10,000 script
// runs), then settles the stat cache with one more run so that the timed
// runs start from the state a user's second no-op run sees.
func warmNoop(b *testing.B, bin, dir string) {
	b.Helper()
	warmOnce.Do(func() {
		start := time.Now()
		r := run(b, dir, noopArgs(bin, dir)...)
		b.Logf("warm-up run: %s in %s", summary(r.stdout), r.wall.Round(time.Millisecond))
		r = run(b, dir, noopArgs(bin, dir)...)
		if want := fmt.Sprintf("summary: %d cached", noopStages); summary(r.stdout) != want {
			b.Fatalf("second run after warm-up: %q, want %q", summary(r.stdout), want)
		}
		b.Logf("warm-up done in %s", time.Since(start).Round(time.Millisecond))
	})
}

// sha256Anchor hashes every data file of the no-op tree, warm, the way a
// user would check the same bytes by hand.
func sha256Anchor(b *testing.B, dir string) time.Duration {
	b.Helper()
	return run(b, dir, "/bin/sh", "-c", "find data -type f -print0 | xargs -0 -P1 sha256sum >/dev/null").wall
}

// BenchmarkNoopRun500 times `pipe run` on a fully cached 500-stage pipeline
// whose keys hash 20,000 files (205 MB), against sha256sum over the same
// files, both with a warm page cache. Goal: ≤ 0.1 x_sha256sum.
func BenchmarkNoopRun500(b *testing.B) {
	bin := pipeBinary(b)
	dir := noopTree(b)
	warmNoop(b, bin, dir)
	want := fmt.Sprintf("summary: %d cached", noopStages)
	var pipeTimes, shaTimes []time.Duration
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		for range noopSamples {
			r := run(b, dir, noopArgs(bin, dir)...)
			if got := summary(r.stdout); got != want {
				b.Fatalf("no-op run: %q, want %q", got, want)
			}
			pipeTimes = append(pipeTimes, r.wall)
			shaTimes = append(shaTimes, sha256Anchor(b, dir))
		}
	}
	p, s := minDuration(pipeTimes), minDuration(shaTimes)
	b.ReportMetric(float64(p.Nanoseconds()), "ns/op")
	b.ReportMetric(ms(p), "pipe_ms")
	b.ReportMetric(ms(s), "sha256sum_ms")
	b.ReportMetric(float64(p)/float64(s), "x_sha256sum")
}

// BenchmarkNoopRun500InProcess is BenchmarkNoopRun500 through the pipeline
// API in this process, doing what `pipe run` does (load, open the store,
// plan, run, close), so that `-cpuprofile` and `-memprofile` see the
// product's code. Its ratio excludes process start-up and output.
func BenchmarkNoopRun500InProcess(b *testing.B) {
	bin := pipeBinary(b)
	dir := noopTree(b)
	warmNoop(b, bin, dir)
	var pipeTimes, shaTimes []time.Duration
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		for range noopSamples {
			start := time.Now()
			res := runInProcess(b, filepath.Join(dir, "pipe.yaml"), filepath.Join(dir, "cache"), pipeline.RunOptions{})
			pipeTimes = append(pipeTimes, time.Since(start))
			for _, n := range res.Nodes {
				if n.Status != pipeline.StatusCached {
					b.Fatalf("%s: %s (%s) %v", n.Node.Name, n.Status, n.Reason, n.Err)
				}
			}
			shaTimes = append(shaTimes, sha256Anchor(b, dir))
		}
	}
	p, s := minDuration(pipeTimes), minDuration(shaTimes)
	b.ReportMetric(float64(p.Nanoseconds()), "ns/op")
	b.ReportMetric(ms(p), "pipe_ms")
	b.ReportMetric(ms(s), "sha256sum_ms")
	b.ReportMetric(float64(p)/float64(s), "x_sha256sum")
}

// runInProcess mirrors cmd/pipe's run command without printing: load, open
// the store, plan, run, write the manifest, close the store.
func runInProcess(b *testing.B, file, cacheDir string, opts pipeline.RunOptions) *pipeline.Result {
	b.Helper()
	p, err := pipeline.Load(pipeline.Options{
		File:         file,
		Inputs:       pipeline.VarInputs{Environ: cleanEnv()},
		Builders:     all.Registry(),
		Provisioners: stagesall.Registry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	st, err := cache.Open(cacheDir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := p.Plan(ctx, st, opts.PlanOptions); err != nil {
		b.Fatal(err)
	}
	opts.Reporter = pipeline.ReporterFunc(func(pipeline.Event) {})
	res, err := p.Run(ctx, st, opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Manifest(res).WriteFile(filepath.Join(filepath.Dir(file), "pipe-manifest.json")); err != nil {
		b.Fatal(err)
	}
	return res
}
