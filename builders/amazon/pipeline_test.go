package amazon

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/builders/amazon/amazontest"
	"github.com/pipebuild/pipe/builders/ssh"
	"github.com/pipebuild/pipe/pipeline"
	"github.com/pipebuild/pipe/pipeline/cache"
	sall "github.com/pipebuild/pipe/stages/all"
)

// layered is base → hardened → app on the fake EC2.
const layered = `name: golden
builders:
  aws:
    type: amazon-ebs
    region: us-east-1
    instance_type: t3.small
    ami_name: golden
    ssh_username: root
    temporary_security_group_source_cidrs: ["127.0.0.1/32"]
    aws_polling: { scale: 0.02 }
    source:
      ami_filter: { name: "debian-12-amd64-pipe-fake", owners: ["136693071363"], most_recent: true }
stages:
  base:
    builders: [aws]
    provision:
      - shell: { inline: ["echo base > /etc/pipe-base"] }
  hardened:
    from: base
    provision:
      - shell: { inline: ["echo hardened > /etc/pipe-hardened"] }
  app:
    from: hardened
    provision:
      - shell: { inline: ["test -f /etc/pipe-base"] }
`

// startFake serves a fake EC2 and points the SDK at it through the
// standard environment settings.
func startFake(t *testing.T, opts amazontest.Options) *amazontest.Fake {
	t.Helper()
	opts.AllowUnimplemented = false
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	f := amazontest.New(opts)
	t.Cleanup(func() { _ = f.Close() })
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_EC2": f.URL(), "AWS_ACCESS_KEY_ID": "AKIDFAKE", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_PROFILE": "",
	} {
		t.Setenv(k, v)
	}
	return f
}

// fakeDial stands in for SSH while the fake runs no sshd (NopRunner).
func fakeDial(t *testing.T) {
	old := dialSSH
	dialSSH = func(context.Context, ssh.Config) (sshClient, error) { return fakeSSH{&fakeComm{}}, nil }
	t.Cleanup(func() { dialSSH = old })
}

// runPipeline loads and runs the pipeline in dir with a fresh builder, as
// a new pipe process would.
func runPipeline(t *testing.T, ctx context.Context, dir string, st *cache.Store) *pipeline.Result {
	t.Helper()
	p, err := pipeline.Load(pipeline.Options{File: filepath.Join(dir, "pipe.yaml"),
		Inputs:   pipeline.VarInputs{Environ: []string{}},
		Builders: builders.NewRegistry(New()), Provisioners: sall.Registry()})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	res, err := p.Run(ctx, st, pipeline.RunOptions{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

func writePipeline(t *testing.T) (string, *cache.Store) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pipe.yaml"), []byte(layered), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return dir, st
}

func requireStatus(t *testing.T, res *pipeline.Result, want pipeline.Status) {
	t.Helper()
	for _, n := range res.Nodes {
		if n.Status != want {
			t.Fatalf("node %s: %s (%s): %v", n.Node.Name, n.Status, n.Reason, n.Err)
		}
	}
}

// TestPipelineOnFakeAPI builds three layered AMIs through the real SDK
// against the fake EC2 (SSH faked), then runs again: all cached, with no
// mutating EC2 call, and nothing temporary left.
func TestPipelineOnFakeAPI(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts amazontest.Options
	}{
		{"reliable", amazontest.Options{}},
		{"throttled 30% and eventually consistent", amazontest.Options{ThrottleRate: 0.3, EventualConsistency: 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, tt.opts)
			fakeDial(t)
			dir, st := writePipeline(t)
			requireStatus(t, runPipeline(t, context.Background(), dir, st), pipeline.StatusBuilt)
			if left := f.Leftovers("pipe:temporary", ""); len(left) != 0 {
				t.Errorf("temporary resources left: %v", left)
			}
			before := f.MutatingCalls()
			requireStatus(t, runPipeline(t, context.Background(), dir, st), pipeline.StatusCached)
			if n := f.MutatingCalls() - before; n != 0 {
				t.Errorf("cached run made %d mutating calls, want 0 (calls: %v)", n, f.Calls())
			}
		})
	}
}
