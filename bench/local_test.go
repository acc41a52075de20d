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

	"github.com/pipebuild/pipe/builders/local/layer"
	"github.com/pipebuild/pipe/pipeline"
)

// Local-builder benchmarks: committing a big upper dir to a layer, and a
// three-stage image built cold, as a no-op and after an edit, each against
// the same work done by tar+pigz/zstd or by buildah in the same run. They
// need root; without buildah, runc, pigz, zstd or mmdebstrap they skip
// with a message. See "Local builder" in BENCHMARKS.md.

// commitSamples interleaved rounds per iteration; the best of each side is
// compared.
const commitSamples = 3

// BenchmarkCommit500MB commits a 500 MB tree of about 8,000 files to one
// layer with layer.Capture (what a local stage's commit does, in this
// process), gzip and zstd, against tar piped into pigz and into zstd -T0
// (each followed by an fsync of the output, as Capture fsyncs its blob),
// and against `buildah commit --disable-compression=false` of a working
// container holding the same files, written to an oci: layout.
// Goals: gzip ≤ 1.0 x_buildah_commit; zstd ≤ 1.11 x_zstd (≥ 0.9× its
// throughput).
func BenchmarkCommit500MB(b *testing.B) {
	needRoot(b)
	needTools(b, "buildah", "runc", "pigz", "zstd", "tar", "sync")
	tree, size := commitTree(b)
	work := filepath.Join(localDir(), "commit")
	h := buildah{root: filepath.Join(localDir(), "buildah-commit")}
	h.reset(b)
	if err := os.RemoveAll(work); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		b.Fatal(err)
	}
	// The working container: an empty rootfs with the tree copied in, so
	// that its overlay upper dir holds exactly the tree's files.
	ctr := strings.TrimSpace(h.run(b, work, "from", "--quiet", "--name", "commit500", "scratch").stdout)
	h.run(b, work, "copy", "--quiet", ctr, tree, "/")
	defer os.RemoveAll(work) // about 1 GB of blobs
	defer h.reset(b)
	// Warm the page cache for every reader.
	sh(b, tree, "tar -cf - . >/dev/null")

	epoch := time.Unix(0, 0)
	capture := func(comp, name string) (time.Duration, int64) {
		p := filepath.Join(work, name)
		os.Remove(p)
		start := time.Now()
		l, err := layer.Capture(context.Background(), tree, layer.CaptureOptions{Path: p, SourceDateEpoch: epoch, Compression: comp})
		d := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := l.Size()
		return d, n
	}
	tarPipe := func(compressor, out string) time.Duration {
		os.Remove(filepath.Join(work, out))
		return sh(b, work, fmt.Sprintf("tar -cf - -C %s . | %s > %s && sync %s", tree, compressor, out, out))
	}
	buildahCommit := func() time.Duration {
		dest := filepath.Join(work, "buildah-oci")
		if err := os.RemoveAll(dest); err != nil {
			b.Fatal(err)
		}
		return h.run(b, work, "commit", "--quiet", "--format", "oci", "--disable-compression=false",
			ctr, "oci:"+dest+":bench").wall
	}

	var gz, zs, pigz, zstdT0, bc []time.Duration
	var gzSize, zsSize int64
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		for range commitSamples {
			d, n := capture(layer.Gzip, "pipe.tar.gz")
			gz, gzSize = append(gz, d), n
			d, n = capture(layer.Zstd, "pipe.tar.zst")
			zs, zsSize = append(zs, d), n
			pigz = append(pigz, tarPipe("pigz", "anchor.tar.gz"))
			zstdT0 = append(zstdT0, tarPipe("zstd -q -T0", "anchor.tar.zst"))
			bc = append(bc, buildahCommit())
		}
	}
	g, z, p, zt, c := minDuration(gz), minDuration(zs), minDuration(pigz), minDuration(zstdT0), minDuration(bc)
	b.ReportMetric(float64(g.Nanoseconds()), "ns/op")
	b.ReportMetric(ms(g), "gzip_ms")
	b.ReportMetric(ms(z), "zstd_ms")
	b.ReportMetric(ms(c), "buildah_commit_ms")
	b.ReportMetric(ms(p), "pigz_ms")
	b.ReportMetric(ms(zt), "zstdT0_ms")
	b.ReportMetric(float64(g)/float64(c), "x_buildah_commit")
	b.ReportMetric(float64(z)/float64(zt), "x_zstd")
	b.ReportMetric(float64(g)/float64(p), "x_pigz")
	b.ReportMetric(float64(gzSize)/float64(size), "gzip_size_ratio")
	b.ReportMetric(float64(zsSize)/float64(size), "zstd_size_ratio")
	for _, f := range []string{"anchor.tar.gz", "anchor.tar.zst"} {
		if fi, err := os.Stat(filepath.Join(work, f)); err == nil {
			b.Logf("%s: %d bytes (%.3f of the tree)", f, fi.Size(), float64(fi.Size())/float64(size))
		}
	}
	b.Logf("tree %d bytes; pipe gzip %d bytes, zstd %d bytes", size, gzSize, zsSize)
}

// ---- three stages from a minbase tarball ----

// threeStagesYAML is the pipe pipeline: base (delete docs, add a user) →
// mid (a few MB of data files, delete one) → app (a config file only this
// stage uses, chown, another config), written as an OCI layout.
const threeStagesYAML = `name: bench-three
builders:
  local:
    type: local
    source: { rootfs: { path: base.tar } }
stages:
  base:
    provision:
      - shell:
          inline:
            - rm -rf /usr/share/doc /usr/share/man /usr/share/info
            - useradd --create-home --uid 1001 --shell /bin/sh app
  mid:
    from: base
    provision:
      - shell:
          inline:
            - mkdir -p /opt/data /etc/app
            - seq 1 600000 > /opt/data/numbers.txt
            - head -c 3000000 /dev/urandom > /opt/data/blob.bin
            - for i in $(seq 1 200); do echo "entry $i" > /opt/data/e$i.txt; done
            - rm /opt/data/e1.txt
  app:
    from: mid
    provision:
      - file: { source: files/app.conf, destination: /etc/app/app.conf }
      - shell:
          inline:
            - chown -R app:app /etc/app
            - sed -i 's/^#listen/listen/' /etc/app/app.conf
            - printf 'APP_HOME=/home/app\n' > /etc/default/app
    image:
      user: app
      cmd: ["/bin/cat", "/etc/app/app.conf"]
    outputs:
      - oci: %s
        tag: latest
`

// threeStagesContainerfile is the same build for buildah: one stage per
// pipe stage, the same commands.
const threeStagesContainerfile = `FROM scratch AS base
ADD base.tar /
RUN rm -rf /usr/share/doc /usr/share/man /usr/share/info && \
    useradd --create-home --uid 1001 --shell /bin/sh app

FROM base AS mid
RUN set -e; mkdir -p /opt/data /etc/app; \
    seq 1 600000 > /opt/data/numbers.txt; \
    head -c 3000000 /dev/urandom > /opt/data/blob.bin; \
    for i in $(seq 1 200); do echo "entry $i" > /opt/data/e$i.txt; done; \
    rm /opt/data/e1.txt

FROM mid AS app
COPY files/app.conf /etc/app/app.conf
RUN chown -R app:app /etc/app && \
    sed -i 's/^#listen/listen/' /etc/app/app.conf && \
    printf 'APP_HOME=/home/app\n' > /etc/default/app
USER app
CMD ["/bin/cat", "/etc/app/app.conf"]
`

// three is the three-stage project: ctx holds pipe.yaml, Containerfile,
// base.tar and files/ (buildah's build context); everything else (pipe's
// store, buildah's store, the outputs) lives beside it.
type three struct {
	dir, ctx string
	bin      string
	bh       buildah
}

var (
	threeOnce sync.Once
	threeErr  error
)

func threeProject(b *testing.B) *three {
	b.Helper()
	needRoot(b)
	needTools(b, "buildah", "runc", "mmdebstrap")
	dir := filepath.Join(localDir(), "three")
	t := &three{dir: dir, ctx: filepath.Join(dir, "ctx"), bin: pipeBinary(b), bh: buildah{root: filepath.Join(dir, "buildah")}}
	minbaseTar(b, t.ctx)
	threeOnce.Do(func() {
		for name, data := range map[string]string{
			"pipe.yaml":     fmt.Sprintf(threeStagesYAML, filepath.Join(dir, "out", "pipe-oci")),
			"Containerfile": threeStagesContainerfile,
		} {
			if threeErr = writeFile(filepath.Join(t.ctx, name), []byte(data), 0o644); threeErr != nil {
				return
			}
		}
		t.editConf(b, "initial")
	})
	if threeErr != nil {
		b.Fatal(threeErr)
	}
	return t
}

// editConf rewrites files/app.conf, the file only the app stage uses.
func (t *three) editConf(b *testing.B, stamp string) {
	b.Helper()
	conf := fmt.Sprintf("# app config\n#listen 0.0.0.0:8080\nworkers 4\n# edit %s\n", stamp)
	if err := writeFile(filepath.Join(t.ctx, "files", "app.conf"), []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
}

func (t *three) cacheDir() string { return filepath.Join(t.dir, "pipe-cache") }

// pipeRun runs `pipe run` and checks its summary line.
func (t *three) pipeRun(b *testing.B, want string) time.Duration {
	b.Helper()
	r := run(b, t.ctx, t.bin, "-f", filepath.Join(t.ctx, "pipe.yaml"), "--cache-dir", t.cacheDir(),
		"run", "--manifest", filepath.Join(t.dir, "out", "pipe-manifest.json"))
	if got := summary(r.stdout); want != "" && got != want {
		b.Fatalf("pipe run: %q, want %q\n%s", got, want, tail(r.stdout, 30))
	}
	return r.wall
}

// buildahBuild runs `buildah bud --layers` then `buildah push` to an oci:
// layout and returns both times. The build log is checked for the number
// of steps that ran (not "Using cache") when wantRun >= 0.
func (t *three) buildahBuild(b *testing.B, wantRun int) (bud, push time.Duration) {
	b.Helper()
	r := t.bh.run(b, t.ctx, "bud", "--layers", "--isolation", "chroot", "-f", "Containerfile", "-t", "bench-three", ".")
	if wantRun >= 0 {
		ran := 0
		for _, l := range strings.Split(r.stdout, "\n") {
			switch {
			case strings.Contains(l, "STEP ") && !strings.Contains(l, ": FROM "):
				ran++
			case strings.HasPrefix(l, "--> Using cache"):
				ran--
			}
		}
		if ran != wantRun {
			b.Logf("buildah bud: %d steps ran, expected %d\n%s", ran, wantRun, tail(r.stdout, 40))
		}
	}
	out := filepath.Join(t.dir, "out", "buildah-oci")
	p := t.bh.run(b, t.ctx, "push", "--quiet", "bench-three", "oci:"+out+":latest")
	return r.wall, p.wall
}

func (t *three) resetPipe(b *testing.B) {
	b.Helper()
	unmountUnder(b, t.cacheDir())
	for _, p := range []string{t.cacheDir(), filepath.Join(t.dir, "out", "pipe-oci")} {
		if err := os.RemoveAll(p); err != nil {
			b.Fatal(err)
		}
	}
}

func (t *three) resetBuildah(b *testing.B) {
	b.Helper()
	t.bh.reset(b)
	if err := os.RemoveAll(filepath.Join(t.dir, "out", "buildah-oci")); err != nil {
		b.Fatal(err)
	}
}

// warm makes sure both sides have built the current files.
func (t *three) warm(b *testing.B) {
	b.Helper()
	t.pipeRun(b, "")
	t.buildahBuild(b, -1)
}

func (t *three) report(b *testing.B, pipeTimes, budTimes, pushTimes []time.Duration) {
	b.Helper()
	best := -1
	for i := range budTimes {
		if best < 0 || budTimes[i]+pushTimes[i] < budTimes[best]+pushTimes[best] {
			best = i
		}
	}
	p := minDuration(pipeTimes)
	bh := budTimes[best] + pushTimes[best]
	b.ReportMetric(float64(p.Nanoseconds()), "ns/op")
	b.ReportMetric(ms(p), "pipe_ms")
	b.ReportMetric(ms(bh), "buildah_ms")
	b.ReportMetric(ms(budTimes[best]), "bud_ms")
	b.ReportMetric(ms(pushTimes[best]), "push_ms")
	b.ReportMetric(float64(p)/float64(bh), "x_buildah")
}

// BenchmarkThreeStagesCold builds the three stages with a new pipe store
// (so the rootfs tarball is imported again) against buildah bud --layers
// + push with a new buildah store. Goal ≤ 0.8 x_buildah.
func BenchmarkThreeStagesCold(b *testing.B) {
	t := threeProject(b)
	var pt, bt, pusht []time.Duration
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		t.resetPipe(b)
		t.resetBuildah(b)
		sync_(b)
		pt = append(pt, t.pipeRun(b, "summary: 3 built"))
		sync_(b)
		bud, push := t.buildahBuild(b, 7)
		bt, pusht = append(bt, bud), append(pusht, push)
	}
	t.report(b, pt, bt, pusht)
}

// threeSamples interleaved pairs per iteration for the warm benchmarks.
const threeSamples = 3

// BenchmarkThreeStagesNoop reruns the built pipeline (pipe: all cached,
// the output rewritten; buildah: bud --layers all from cache, then push
// to the same oci: layout). Goal ≤ 0.1 x_buildah.
func BenchmarkThreeStagesNoop(b *testing.B) {
	t := threeProject(b)
	t.warm(b)
	var pt, bt, pusht []time.Duration
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		for range threeSamples {
			pt = append(pt, t.pipeRun(b, "summary: 3 cached"))
			bud, push := t.buildahBuild(b, 0)
			bt, pusht = append(bt, bud), append(pusht, push)
		}
	}
	t.report(b, pt, bt, pusht)
}

// BenchmarkThreeStagesNoopInProcess is the pipe side of
// BenchmarkThreeStagesNoop through the pipeline API, for -cpuprofile.
// Its ratio is against the buildah times of a pair measured alongside.
func BenchmarkThreeStagesNoopInProcess(b *testing.B) {
	t := threeProject(b)
	t.warm(b)
	var pt, bt, pusht []time.Duration
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		for range threeSamples {
			start := time.Now()
			res := runInProcess(b, filepath.Join(t.ctx, "pipe.yaml"), t.cacheDir(), pipeline.RunOptions{})
			pt = append(pt, time.Since(start))
			for _, n := range res.Nodes {
				if n.Status != pipeline.StatusCached {
					b.Fatalf("%s: %s (%s) %v", n.Node.Name, n.Status, n.Reason, n.Err)
				}
			}
			bud, push := t.buildahBuild(b, 0)
			bt, pusht = append(bt, bud), append(pusht, push)
		}
	}
	t.report(b, pt, bt, pusht)
}

// BenchmarkThreeStagesEditLast edits files/app.conf (used only by the last
// stage) and rebuilds: pipe rebuilds app, buildah reruns COPY and the RUN
// after it; both then write their oci: layout. Goal ≤ 0.8 x_buildah.
func BenchmarkThreeStagesEditLast(b *testing.B) {
	t := threeProject(b)
	t.warm(b)
	var pt, bt, pusht []time.Duration
	b.ResetTimer()
	b.StopTimer()
	for i := range b.N {
		for j := range threeSamples {
			t.editConf(b, fmt.Sprintf("%d-%d-%d", time.Now().UnixNano(), i, j))
			pt = append(pt, t.pipeRun(b, "summary: 1 built, 2 cached"))
			// USER and CMD run again too: they follow the edited COPY.
			bud, push := t.buildahBuild(b, 4)
			bt, pusht = append(bt, bud), append(pusht, push)
		}
	}
	t.report(b, pt, bt, pusht)
}

// sync_ flushes dirty pages so that one side's writeback is not billed to
// the other in the cold benchmark.
func sync_(b *testing.B) {
	b.Helper()
	sh(b, "/", "sync")
}
