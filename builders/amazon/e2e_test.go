package amazon_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/pipebuild/pipe/builders/all"
	"github.com/pipebuild/pipe/builders/amazon"
	"github.com/pipebuild/pipe/builders/amazon/amazontest"
	"github.com/pipebuild/pipe/pipeline"
	"github.com/pipebuild/pipe/pipeline/cache"
	sall "github.com/pipebuild/pipe/stages/all"
)

// End-to-end tests of the amazon-ebs builder through pipeline.Load and Run
// with the builders/all and stages/all registries, against the fake EC2
// through the real SDK. With root, openssh-server, busybox-static and
// bash-static, instances are real chrooted sshd processes (otherwise those
// tests skip, or fail with PIPE_REQUIRE_INTEGRATION=1).

// e2ePipeline is base → hardened → app. base writes a file that app checks,
// so the file must travel through two AMIs' snapshots.
const e2ePipeline = `name: golden
builders:
  aws:
    type: amazon-ebs
    region: us-east-1
    instance_type: t3.small
    ami_name: golden
    ssh_username: root
    ssh_timeout: 30s
    temporary_security_group_source_cidrs: ["127.0.0.1/32"]
    aws_polling: { scale: 0.02 }
    source:
      ami_filter: { name: "debian-12-amd64-pipe-fake", owners: ["136693071363"], most_recent: true }
stages:
  base:
    builders: [aws]
    provision:
      - shell: { inline: ["mkdir -p /etc/pipe", "echo base > /etc/pipe/base"] }
  hardened:
    from: base
    provision:
      - shell: { inline: ["test -f /etc/pipe/base", "echo hardened > /etc/pipe/hardened"] }
  app:
    from: hardened
    provision:
      - shell: { inline: ["test -f /etc/pipe/base", "test -f /etc/pipe/hardened", "echo app > /etc/pipe/app"] }
`

// fastDelays are the fake's realistic delays at 1/100.
var fastDelays = amazontest.RealisticDelays.Scale(0.01)

// startFake serves a fake EC2 for the test and points the SDK at it through
// the standard settings (AWS_ENDPOINT_URL_EC2, dummy credentials).
func startFake(t testing.TB, opts amazontest.Options) *amazontest.Fake {
	t.Helper()
	f := amazontest.New(opts)
	endpoint := f.Start(t)
	setFakeEnv(t, endpoint)
	return f
}

func setFakeEnv(t testing.TB, endpoint string) {
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_EC2": endpoint, "AWS_ACCESS_KEY_ID": "AKIDFAKE", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_SESSION_TOKEN": "", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
	} {
		t.Setenv(k, v)
	}
}

// startSSHDFake is startFake with real sshd instances, whose ports the
// builder learns through its test hook.
func startSSHDFake(t testing.TB, opts amazontest.Options) *amazontest.Fake {
	t.Helper()
	opts.Runner = amazontest.RequireSSHD(t, amazontest.SSHDOptions{})
	f := startFake(t, opts)
	amazon.SetSSHPortOverride(t, f.SSHPort)
	return f
}

// client is an EC2 client of the fake, for assertions.
func client(region string) *ec2.Client {
	return ec2.NewFromConfig(aws.Config{Region: region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDFAKE", "secret", ""),
		BaseEndpoint: aws.String(os.Getenv("AWS_ENDPOINT_URL_EC2"))})
}

// project writes yaml as dir/pipe.yaml and opens a store.
func project(t testing.TB, yaml string) (string, *cache.Store) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pipe.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return dir, st
}

// load loads dir/pipe.yaml with every builder and provisioner, as pipe
// does.
func load(t testing.TB, dir string) (*pipeline.Pipeline, error) {
	return pipeline.Load(pipeline.Options{File: filepath.Join(dir, "pipe.yaml"),
		Inputs:   pipeline.VarInputs{Environ: []string{}},
		Builders: all.Registry(), Provisioners: sall.Registry()})
}

// run loads and runs the pipeline with a fresh builder, as a new pipe
// process would.
func run(t testing.TB, ctx context.Context, dir string, st *cache.Store) *pipeline.Result {
	t.Helper()
	p, err := load(t, dir)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	res, err := p.Run(ctx, st, pipeline.RunOptions{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

func requireStatus(t testing.TB, res *pipeline.Result, want pipeline.Status) {
	t.Helper()
	for _, n := range res.Nodes {
		if n.Status != want {
			t.Fatalf("node %s: %s (%s): %v", n.Node.Name, n.Status, n.Reason, n.Err)
		}
	}
}

// TestEndToEndRealSSH builds base → hardened → app with real SSH: each AMI
// boots from the one before, so app sees base's file. A second run is all
// cached with no mutating EC2 call, and nothing temporary is left. It runs
// with a reliable fake and with 30% of calls throttled.
func TestEndToEndRealSSH(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts amazontest.Options
	}{
		{"reliable", amazontest.Options{Delays: fastDelays}},
		{"throttled 30%", amazontest.Options{Delays: fastDelays, ThrottleRate: 0.3, EventualConsistency: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := startSSHDFake(t, tt.opts)
			dir, st := project(t, e2ePipeline)
			res := run(t, context.Background(), dir, st)
			requireStatus(t, res, pipeline.StatusBuilt)
			if left := f.Leftovers("pipe:temporary", ""); len(left) != 0 {
				t.Errorf("temporary resources left after success: %v", left)
			}
			// Each AMI boots from the one before.
			amis := map[string]string{}
			for _, n := range res.Nodes {
				amis[n.Node.Stage] = n.Artifact.OutputID
			}
			for stage, from := range map[string]string{"hardened": amis["base"], "app": amis["hardened"]} {
				im, ok := f.Image(amis[stage])
				if !ok || im.State != "available" {
					t.Fatalf("%s AMI %s: %+v", stage, amis[stage], im)
				}
				src, _ := f.Instance(im.SourceInstanceID)
				if src.ImageID != from {
					t.Errorf("%s was built from %s, want %s", stage, src.ImageID, from)
				}
				if im.Tags["pipe:current"] != "true" || !strings.HasPrefix(im.Name, "golden-") {
					t.Errorf("%s AMI: name %q tags %v", stage, im.Name, im.Tags)
				}
			}
			if tt.opts.ThrottleRate > 0 && f.Throttled() == 0 {
				t.Error("no call was throttled")
			}
			before := f.MutatingCalls()
			requireStatus(t, run(t, context.Background(), dir, st), pipeline.StatusCached)
			if n := f.MutatingCalls() - before; n != 0 {
				t.Errorf("cached run made %d mutating calls, want 0 (calls: %v)", n, f.Calls())
			}
		})
	}
}

// namedLeftovers lists key pairs and security groups named like pipe's
// temporary resources ("pipe-<run>-…").
func namedLeftovers(t testing.TB, region string) []string {
	t.Helper()
	ctx := context.Background()
	c := client(region)
	var out []string
	kps, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kps.KeyPairs {
		if strings.HasPrefix(aws.ToString(k.KeyName), "pipe-") {
			out = append(out, "key pair "+aws.ToString(k.KeyName))
		}
	}
	sgs, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range sgs.SecurityGroups {
		if strings.HasPrefix(aws.ToString(g.GroupName), "pipe-") {
			out = append(out, "security group "+aws.ToString(g.GroupName))
		}
	}
	slices.Sort(out)
	return out
}
