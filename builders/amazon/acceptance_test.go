package amazon_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/pipebuild/pipe/pipeline"
)

// TestAcceptanceLiveAWS builds base → app on real EC2. It costs money and
// is never run in CI: it runs only with PIPE_ACC=1 and real credentials
// from the standard chain, and skips otherwise.
//
//	PIPE_ACC=1 AWS_PROFILE=… PIPE_ACC_REGION=eu-west-1 PIPE_ACC_CIDR=$(curl -s ifconfig.me)/32 \
//	  go test ./builders/amazon -run TestAcceptanceLiveAWS -v -timeout 60m
//
// PIPE_ACC_REGION defaults to us-east-1; PIPE_ACC_CIDR (the range that
// may reach SSH) is required. It uses Debian 12's official AMI
// (debian-12-amd64-*, owner 136693071363, user admin), deregisters the
// AMIs it made at the end, and fails if anything tagged pipe:temporary
// by its run is left.
func TestAcceptanceLiveAWS(t *testing.T) {
	if os.Getenv("PIPE_ACC") != "1" {
		t.Skip("live AWS acceptance test: set PIPE_ACC=1 and AWS credentials (never in CI)")
	}
	if os.Getenv("AWS_ENDPOINT_URL_EC2") != "" || os.Getenv("AWS_ENDPOINT_URL") != "" {
		t.Skip("AWS_ENDPOINT_URL(_EC2) is set: this test is for real EC2")
	}
	cidr := os.Getenv("PIPE_ACC_CIDR")
	if cidr == "" {
		t.Fatal("PIPE_ACC_CIDR is required: the address range that may reach SSH, e.g. 203.0.113.7/32")
	}
	region := os.Getenv("PIPE_ACC_REGION")
	if region == "" {
		region = "us-east-1"
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		t.Skipf("PIPE_ACC=1 but no AWS credentials: %v", err)
	}
	yaml := fmt.Sprintf(`name: pipe-acc
builders:
  aws:
    type: amazon-ebs
    region: %s
    instance_type: t3.micro
    ami_name: pipe-acc-%d
    ssh_username: admin
    max_lifetime: 1h
    temporary_security_group_source_cidrs: [%q]
    source:
      ami_filter: { name: "debian-12-amd64-*", owners: ["136693071363"], most_recent: true }
stages:
  base:
    builders: [aws]
    provision:
      - shell: { inline: ["echo base | sudo tee /etc/pipe-base"] }
  app:
    from: base
    provision:
      - shell: { inline: ["test -f /etc/pipe-base"] }
`, region, time.Now().Unix(), cidr)
	dir, st := project(t, yaml)
	res := run(t, ctx, dir, st)
	c := ec2.NewFromConfig(cfg)
	t.Cleanup(func() { // deregister what the test made, built or not
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"},
			Filters: []types.Filter{{Name: aws.String("tag:pipe:pipeline"), Values: []string{"pipe-acc"}}}})
		if err != nil {
			t.Errorf("list test AMIs: %v", err)
			return
		}
		for _, im := range out.Images {
			if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: im.ImageId}); err != nil {
				t.Errorf("deregister %s: %v", aws.ToString(im.ImageId), err)
			}
			for _, bd := range im.BlockDeviceMappings {
				if bd.Ebs != nil && bd.Ebs.SnapshotId != nil {
					if _, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: bd.Ebs.SnapshotId}); err != nil {
						t.Errorf("delete %s: %v", aws.ToString(bd.Ebs.SnapshotId), err)
					}
				}
			}
		}
	})
	requireStatus(t, res, pipeline.StatusBuilt)
	requireStatus(t, run(t, ctx, dir, st), pipeline.StatusCached)
	left, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:pipe:pipeline"), Values: []string{"pipe-acc"}},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range left.Reservations {
		for _, i := range r.Instances {
			t.Errorf("instance left: %s", aws.ToString(i.InstanceId))
		}
	}
}
