package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipebuild/pipe/pipeline"
)

const (
	parallelStages = 100
	// parallelAttempts bounds the retries of a run that failed a stage, so
	// that a flaky stage is counted (failed_runs) rather than ending the
	// benchmark.
	parallelAttempts = 3
)

// parallelPipeline writes 100 independent root stages that each `sleep 1`.
func parallelPipeline(b *testing.B, dir string) {
	b.Helper()
	var y strings.Builder
	fmt.Fprintf(&y, "name: bench-parallel\nbuilders: { host: { type: null } }\nstages:\n")
	for s := range parallelStages {
		fmt.Fprintf(&y, "  p%03d: { provision: [ { shell-local: { inline: [\"sleep 1\"] } } ] }\n", s)
	}
	if err := writeFile(filepath.Join(dir, "pipe.yaml"), []byte(y.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	// The same process tree as one stage (sh -c → "#!/bin/sh -e" script →
	// sleep), for the fan-out floor.
	if err := writeFile(filepath.Join(dir, "stage.sh"), []byte("#!/bin/sh -e\nsleep 1\n"), 0o755); err != nil {
		b.Fatal(err)
	}
}

// parallelAnchors times, in this iteration, the longest stage alone
// (`sh -c 'sleep 1'`) and the machine's floor for the same fan-out without
// pipe: one shell starting 100 copies of the stage's process tree in the
// background and waiting for them.
func parallelAnchors(b *testing.B, dir string) (sleep1, fanout time.Duration) {
	b.Helper()
	sleep1 = run(b, dir, "/bin/sh", "-c", "sleep 1").wall
	fanout = run(b, dir, "/bin/sh", "-c",
		fmt.Sprintf(`i=0; while [ $i -lt %d ]; do /bin/sh -c ./stage.sh & i=$((i+1)); done; wait`, parallelStages)).wall
	return sleep1, fanout
}

// BenchmarkParallel100 times `pipe run -j 100 --no-cache` (fresh cache
// directory every run) on 100 independent root stages that each run
// `sleep 1`, against `sh -c 'sleep 1'`, the longest stage, measured in the
// same iteration. Goal: ≤ 1.1 x_sleep1. x_fanout compares with the bare
// shell fan-out of the same 100 process trees, what pipe cannot go below on
// this machine.
func BenchmarkParallel100(b *testing.B) {
	bin := pipeBinary(b)
	dir := b.TempDir()
	parallelPipeline(b, dir)
	want := fmt.Sprintf("summary: %d built", parallelStages)
	var pipeTotal, sleepTotal, fanoutTotal time.Duration
	failed := 0
	b.ResetTimer()
	b.StopTimer()
	for i := range b.N {
		var r runResult
		for attempt := 0; ; attempt++ {
			cacheDir := filepath.Join(dir, fmt.Sprintf("cache%d-%d", i, attempt))
			b.StartTimer()
			var err error
			r, err = tryRun(dir, bin, "-f", "pipe.yaml", "--cache-dir", cacheDir, "run",
				"-j", fmt.Sprint(parallelStages), "--no-cache", "--manifest", filepath.Join(dir, "pipe-manifest.json"))
			b.StopTimer()
			os.RemoveAll(cacheDir)
			if got := summary(r.stdout); err == nil && got == want {
				break
			}
			failed++
			b.Logf("run %d failed (%s), retrying; stderr:\n%s", i, summary(r.stdout), tail(r.stderr, 4))
			if attempt+1 == parallelAttempts {
				b.Fatalf("%d runs in a row failed", parallelAttempts)
			}
		}
		pipeTotal += r.wall
		s, f := parallelAnchors(b, dir)
		sleepTotal += s
		fanoutTotal += f
	}
	n := float64(b.N)
	b.ReportMetric(float64(pipeTotal.Nanoseconds())/n, "ns/op")
	b.ReportMetric(ms(pipeTotal)/n, "pipe_ms")
	b.ReportMetric(ms(sleepTotal)/n, "sleep1_ms")
	b.ReportMetric(ms(fanoutTotal)/n, "fanout_ms")
	b.ReportMetric(float64(failed), "failed_runs")
	b.ReportMetric(float64(pipeTotal)/float64(sleepTotal), "x_sleep1")
	b.ReportMetric(float64(pipeTotal)/float64(fanoutTotal), "x_fanout")
}

// BenchmarkParallel100InProcess is BenchmarkParallel100 through the
// pipeline API in this process (load, plan, run), for -cpuprofile.
func BenchmarkParallel100InProcess(b *testing.B) {
	dir := b.TempDir()
	parallelPipeline(b, dir)
	var pipeTotal, sleepTotal time.Duration
	failed := 0
	b.ResetTimer()
	b.StopTimer()
	for i := range b.N {
		cacheDir := filepath.Join(dir, fmt.Sprintf("cache%d", i))
		b.StartTimer()
		start := time.Now()
		res := runInProcess(b, filepath.Join(dir, "pipe.yaml"), cacheDir, pipeline.RunOptions{
			PlanOptions: pipeline.PlanOptions{NoCache: true}, Jobs: parallelStages})
		pipeTotal += time.Since(start)
		b.StopTimer()
		os.RemoveAll(cacheDir)
		for _, n := range res.Nodes {
			if n.Status != pipeline.StatusBuilt {
				failed++
				b.Logf("%s: %s %v", n.Node.Name, n.Status, n.Err)
			}
		}
		s, _ := parallelAnchors(b, dir)
		sleepTotal += s
	}
	b.ReportMetric(float64(failed), "failed_stages")
	b.ReportMetric(float64(pipeTotal)/float64(sleepTotal), "x_sleep1")
}

const planGroups = 100 // × 10 stages = 1,000 stages

// planPipeline writes a 1,000-stage pipeline of chains and fans: 100 groups,
// each a root, a chain of 4 below it and a fan of 5 below the chain's end.
// Every stage has a few inline lines and an environment variable, so that
// each key has the usual handful of lines.
func planPipeline(b *testing.B, dir string) string {
	b.Helper()
	var y strings.Builder
	fmt.Fprintf(&y, "name: bench-plan\nbuilders: { host: { type: null } }\nstages:\n")
	stage := func(name, from string) {
		fromPart := ""
		if from != "" {
			fromPart = "from: " + from + ", "
		}
		fmt.Fprintf(&y, "  %s: { %sprovision: [ { shell-local: { env: { STAGE: %s }, inline: [\"echo building %s\", \"test -n \\\"$STAGE\\\"\", \"true\"] } } ] }\n",
			name, fromPart, name, name)
	}
	for g := range planGroups {
		root := fmt.Sprintf("g%03d_root", g)
		stage(root, "")
		prev := root
		for c := range 4 {
			name := fmt.Sprintf("g%03d_chain%d", g, c)
			stage(name, prev)
			prev = name
		}
		for f := range 5 {
			stage(fmt.Sprintf("g%03d_fan%d", g, f), prev)
		}
	}
	path := filepath.Join(dir, "pipe.yaml")
	if err := writeFile(path, []byte(y.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkPlanRSS1000 measures the peak RSS of `pipe plan` on a
// 1,000-stage pipeline (empty cache: every node is planned to build), from
// the child's rusage. Baselines from the same run: `pipe version` (the
// binary and Go runtime alone) and /bin/true. Goal: ≤ 150 MB.
func BenchmarkPlanRSS1000(b *testing.B) {
	bin := pipeBinary(b)
	dir := b.TempDir()
	file := planPipeline(b, dir)
	cacheDir := filepath.Join(dir, "cache")
	var peak, version, trueRSS int64
	b.ResetTimer()
	for range b.N {
		rss, r := peakRSS(b, dir, bin, "-f", file, "--cache-dir", cacheDir, "plan")
		if n := strings.Count(r.stdout, "\n"); n != planGroups*10 {
			b.Fatalf("plan printed %d lines, want %d", n, planGroups*10)
		}
		peak = max(peak, rss)
	}
	b.StopTimer()
	version, _ = peakRSS(b, dir, bin, "version")
	trueRSS, _ = peakRSS(b, dir, "/bin/true")
	b.ReportMetric(float64(peak)*1024/1e6, "peak_MB")
	b.ReportMetric(float64(version)*1024/1e6, "version_MB")
	b.ReportMetric(float64(trueRSS)*1024/1e6, "true_MB")
}

// peakRSS runs argv and returns its peak RSS in KiB. A child of this process
// cannot be measured from its own rusage: Go starts children with
// vfork/CLONE_VM, and at exec Linux folds the shared (parent's) memory
// high-water mark into the child's ru_maxrss, so every child would show at
// least this test process's RSS. GNU time forks for real and reports its
// child's ru_maxrss, so it is used when installed; otherwise the rusage is
// used and the floor is logged.
func peakRSS(b *testing.B, dir string, argv ...string) (int64, runResult) {
	b.Helper()
	const gnuTime = "/usr/bin/time"
	if !fileExists(gnuTime) {
		r := run(b, dir, argv...)
		b.Logf("%s not installed: %s's RSS includes this process's (floor of the measure)", gnuTime, argv[0])
		return r.maxRSS, r
	}
	out := filepath.Join(b.TempDir(), "rss")
	r := run(b, dir, append([]string{gnuTime, "-f", "%M", "-o", out}, argv...)...)
	data, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		b.Fatalf("%s -f %%M: %q: %v", gnuTime, data, err)
	}
	return kib, r
}
