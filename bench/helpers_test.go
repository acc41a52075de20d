package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the pipe binary built for this test process; TestMain
// removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	pipeBin   string
	buildErr  error
)

// pipeBinary builds ../cmd/pipe once per test process. Other engineers may
// have the product mid-edit, so a failed build is retried for a while.
func pipeBinary(b *testing.B) string {
	b.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "pipe-bench-bin-")
		if buildErr != nil {
			return
		}
		pipeBin = filepath.Join(binDir, "pipe")
		for attempt := 0; attempt < 4; attempt++ {
			if attempt > 0 {
				time.Sleep(30 * time.Second)
			}
			cmd := exec.Command(goTool(), "build", "-o", pipeBin, "../cmd/pipe")
			var out []byte
			out, buildErr = cmd.CombinedOutput()
			if buildErr == nil {
				return
			}
			buildErr = fmt.Errorf("go build ../cmd/pipe: %v\n%s", buildErr, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return pipeBin
}

func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// benchRoot is where generated inputs and warm caches persist across
// benchmark processes.
func benchRoot() string {
	if d := os.Getenv("PIPE_BENCH_DIR"); d != "" {
		return d
	}
	return "/var/tmp/pipe-bench"
}

// runResult is one finished child process.
type runResult struct {
	wall   time.Duration
	maxRSS int64 // KiB
	stdout string
	stderr string
}

// run runs argv in dir and fails the benchmark if it exits non-zero. The
// child gets the caller's environment minus pipe's own variables, so that a
// developer's PIPE_DEBUG or PIPE_CACHE_DIR does not change what is measured.
func run(b *testing.B, dir string, argv ...string) runResult {
	b.Helper()
	r, err := tryRun(dir, argv...)
	if err != nil {
		b.Fatalf("%s: %v\nstdout (tail):\n%s\nstage output (tail):\n%s\nstderr (tail):\n%s",
			strings.Join(argv, " "), err, tail(r.stdout, 10), tail(stageOutput(r.stdout), 10), tail(r.stderr, 10))
	}
	return r
}

func tryRun(dir string, argv ...string) (runResult, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := runResult{wall: time.Since(start), stdout: stdout.String(), stderr: stderr.String()}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.maxRSS = ru.Maxrss
		}
	}
	return r, err
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PIPE_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// stageOutput keeps the lines of pipe's plain output that are stages' own
// output ("HH:MM:SS node | line").
func stageOutput(stdout string) string {
	var out []string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.Contains(l, " | ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// summary returns the "summary: ..." line pipe run prints last.
func summary(stdout string) string {
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "summary: ") {
			return lines[i]
		}
	}
	return ""
}

func minDuration(ds []time.Duration) time.Duration { return slices.Min(ds) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// writeFile writes data to path, creating its directory.
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, mode)
}
