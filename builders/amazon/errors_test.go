package amazon_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/pipebuild/pipe/builders/amazon"
	"github.com/pipebuild/pipe/builders/amazon/amazontest"
	"github.com/pipebuild/pipe/pipeline"
)

// errPipeline is one stage on the fake EC2; %s is the source, %s extra
// builder options.
const errPipeline = `name: errs
builders:
  aws:
    type: amazon-ebs
    region: %s
    instance_type: t3.small
    ami_name: errs
    ssh_username: root
    ssh_timeout: 2s
    temporary_security_group_source_cidrs: ["127.0.0.1/32"]
    aws_polling: { scale: 0.02 }
    source: %s
stages:
  base:
    builders: [aws]
    provision:
      - shell: { inline: ["true"] }
`

const fakeSource = `{ ami_filter: { name: "debian-12-amd64-pipe-fake", owners: ["136693071363"] } }`

// runErr loads and runs a pipeline and returns its error: Load's or the
// failed node's.
func runErr(t *testing.T, yaml string) error {
	t.Helper()
	dir, st := project(t, yaml)
	p, err := load(t, dir)
	if err != nil {
		return err
	}
	res, err := p.Run(context.Background(), st, pipeline.RunOptions{})
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range res.Nodes {
		errs = append(errs, n.Err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return errors.New("no error")
}

// TestErrorsBeforeCreating: missing credentials, an unknown region, and an
// ami_filter that matches nothing or several AMIs without most_recent fail
// with a clear error before any mutating EC2 call.
func TestErrorsBeforeCreating(t *testing.T) {
	for _, tt := range []struct {
		name   string
		region string
		source string
		setup  func(t *testing.T, f *amazontest.Fake)
		want   []string
	}{
		{name: "missing credentials", region: "us-east-1", source: fakeSource,
			setup: func(t *testing.T, _ *amazontest.Fake) {
				t.Setenv("AWS_ACCESS_KEY_ID", "")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "")
			},
			want: []string{"no AWS credentials", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"}},
		{name: "unknown region", region: "xx-nowhere-9", source: fakeSource,
			want: []string{`unknown region "xx-nowhere-9"`}},
		{name: "ami_filter matches nothing", region: "us-east-1",
			source: `{ ami_filter: { name: "ubuntu-*", owners: ["136693071363"] } }`,
			want:   []string{"ami_filter", `"ubuntu-*"`, "no available AMI matches"}},
		{name: "ami_filter matches two", region: "us-east-1",
			source: `{ ami_filter: { name: "dup-*", owners: ["self"] } }`,
			setup:  twoImages,
			want:   []string{"ami_filter", `"dup-*"`, "2 AMIs match", "most_recent"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, amazontest.Options{})
			amazon.UseFakeSSH(t)
			if tt.setup != nil {
				tt.setup(t, f)
			}
			before := f.MutatingCalls()
			err := runErr(t, fmt.Sprintf(errPipeline, tt.region, tt.source))
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
			if n := f.MutatingCalls() - before; n != 0 {
				t.Errorf("%d mutating calls before the error, want 0: %v", n, f.Calls())
			}
		})
	}
}

// twoImages registers two AMIs of the caller named dup-a and dup-b.
func twoImages(t *testing.T, f *amazontest.Fake) {
	ctx := context.Background()
	c := client("us-east-1")
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.SourceImageID("us-east-1")),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dup-a", "dup-b"} {
		if _, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSSHNeverUp: an instance whose SSH port never answers fails the build
// after ssh_timeout with an error that names the host, the port, the user
// and the last error, and leaves nothing behind.
func TestSSHNeverUp(t *testing.T) {
	f := startFake(t, amazontest.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there any more
	amazon.SetSSHPortOverride(t, func(string) int { return port })
	err = runErr(t, fmt.Sprintf(errPipeline, "us-east-1", fakeSource))
	for _, w := range []string{fmt.Sprintf("root@127.0.0.1:%d", port), "connection refused"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\nwant it to contain %q", err, w)
		}
	}
	if left := f.Leftovers("pipe:temporary", ""); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}
