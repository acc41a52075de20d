package bench

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipebuild/pipe/builders/amazon"
	"github.com/pipebuild/pipe/builders/amazon/amazontest"
)

// amazon-ebs benchmark: base → hardened → app built cold by the pipe binary
// against the fake EC2 (package amazontest) served by this process, with
// the fake's delays at 1/10 of EC2's and aws_polling.scale 0.1. Instances
// are real chrooted sshd processes, so it needs root, openssh-server,
// busybox-static and bash-static, and skips without them. See "amazon-ebs
// builder" in BENCHMARKS.md.

// amazonDelays are EC2's state changes at 1/10: an instance runs after
// 2 s, stops in 1.5 s and terminates in 1.5 s; an AMI is available after
// 6 s.
var amazonDelays = amazontest.Delays{
	InstanceRunning:     2 * time.Second,
	InstanceStopping:    1500 * time.Millisecond,
	InstanceTerminating: 1500 * time.Millisecond,
	ImageAvailable:      6 * time.Second,
}

// amazonProvision is each stage's provisioning: one `sleep 1` over SSH.
const amazonProvision = time.Second

const amazonBenchPipeline = `name: golden
builders:
  aws:
    type: amazon-ebs
    region: us-east-1
    instance_type: t3.small
    ami_name: golden
    ssh_username: root
    temporary_security_group_source_cidrs: ["127.0.0.1/32"]
    aws_polling: { scale: 0.1 }
    source:
      ami_filter: { name: "debian-12-amd64-pipe-fake", owners: ["136693071363"], most_recent: true }
stages:
  base:
    builders: [aws]
    provision:
      - shell: { inline: ["sleep 1", "echo base > /root/base"] }
  hardened:
    from: base
    provision:
      - shell: { inline: ["sleep 1", "test -f /root/base"] }
  app:
    from: hardened
    provision:
      - shell: { inline: ["sleep 1", "test -f /root/base"] }
`

// BenchmarkAmazonThreeStages reports the wall time of a cold `pipe run`
// of three layered amazon-ebs stages against the sum of the waits on its
// critical path plus provisioning (x_critical_path; goal ≤ 1.15), and the
// EC2 API calls one build makes (api_calls/build, mutating_calls/build,
// throttled attempts excluded). Every stage waits for its instance to run,
// provisions, stops it, waits for the AMI and (undo, before the next stage
// may start) for the instance to terminate.
func BenchmarkAmazonThreeStages(b *testing.B) {
	runner, err := amazontest.NewSSHDRunner(amazontest.SSHDOptions{})
	if err != nil {
		b.Skipf("needs real sshd instances: %v", err)
	}
	defer runner.Close()
	bin := pipeBinary(b)
	critical := 3 * (amazonDelays.InstanceRunning + amazonProvision + amazonDelays.InstanceStopping +
		amazonDelays.ImageAvailable + amazonDelays.InstanceTerminating)
	var wall time.Duration
	calls, mutating := 0, 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// The runner outlives each fake (Close would close it).
		f := amazontest.New(amazontest.Options{Delays: amazonDelays, Runner: keepOpen{runner}, Logf: b.Logf})
		dir := b.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "pipe.yaml"), []byte(amazonBenchPipeline), 0o644); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, "run", "--cache-dir", filepath.Join(dir, "cache"))
		cmd.Dir = dir
		cmd.Env = append(cleanEnv(), "AWS_ENDPOINT_URL_EC2="+f.URL(), "AWS_ACCESS_KEY_ID=AKIDFAKE",
			"AWS_SECRET_ACCESS_KEY=secret", "AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_CONFIG_FILE="+os.DevNull,
			"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull, "AWS_EC2_METADATA_DISABLED=true", amazon.FakeSSHPortEnv+"=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		b.StartTimer()
		start := time.Now()
		err := cmd.Run()
		wall += time.Since(start)
		b.StopTimer()
		if err != nil || !strings.Contains(out.String(), "app@aws built") {
			f.Close()
			b.Fatalf("pipe run: %v\n%s", err, tail(out.String(), 30))
		}
		if left := f.Leftovers("pipe:temporary", ""); len(left) != 0 {
			b.Errorf("temporary resources left: %v", left)
		}
		for _, n := range f.Calls() {
			calls += n
		}
		mutating += f.MutatingCalls()
		f.Close()
	}
	n := float64(b.N)
	avg := time.Duration(float64(wall) / n)
	b.ReportMetric(float64(avg)/float64(critical), "x_critical_path")
	b.ReportMetric(avg.Seconds(), "wall_s")
	b.ReportMetric(critical.Seconds(), "critical_path_s")
	b.ReportMetric(float64(calls)/n, "api_calls/build")
	b.ReportMetric(float64(mutating)/n, "mutating_calls/build")
	b.Logf("wall %s, critical path (waits + provisioning) %s: %.3f x; %.0f API calls per build (%.0f mutating)",
		avg.Round(time.Millisecond), critical, float64(avg)/float64(critical), float64(calls)/n, float64(mutating)/n)
}

// keepOpen is a Runner whose Close does nothing, so that one SSHDRunner
// (and its stock root filesystem) serves every iteration's fake.
type keepOpen struct{ amazontest.Runner }

func (keepOpen) Close() error { return nil }
