package amazontest

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"
)

const (
	buildRegion = "us-east-1"
	copyRegion  = "eu-west-1"
	runTag      = "pipe:run"
)

// packerSequence drives the fake through the amazon-ebs call sequence
// (reference/packer.md §3.1) with the real SDK and waiters. With boot set,
// the instances are real sshd processes and the test writes a file over
// SSH into the first instance and reads it back from an instance of the
// captured image.
func packerSequence(t *testing.T, f *Fake, endpoint string, boot bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := client(endpoint, buildRegion)
	c2 := client(endpoint, copyRegion)
	runID := fmt.Sprintf("run-%d", time.Now().UnixNano())
	tags := func(rt types.ResourceType) types.TagSpecification {
		return types.TagSpecification{ResourceType: rt, Tags: []types.Tag{{Key: aws.String(runTag), Value: aws.String(runID)}}}
	}

	// 1. Pre-validate: regions, and no AMI of our name yet.
	regions := must(c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{RegionNames: []string{buildRegion, copyRegion}}))(t)
	if len(regions.Regions) != 2 {
		t.Fatalf("DescribeRegions: %d regions", len(regions.Regions))
	}
	amiName := "pipe-base-" + runID
	existing := must(c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{amiName}}}}))(t)
	if len(existing.Images) != 0 {
		t.Fatalf("AMI name already used: %v", existing.Images)
	}

	// 2. Source AMI by filter, most recent.
	src := must(c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{SourceImageOwner},
		Filters: []types.Filter{
			{Name: aws.String("name"), Values: []string{"debian-12-amd64-*"}},
			{Name: aws.String("state"), Values: []string{"available"}},
			{Name: aws.String("root-device-type"), Values: []string{"ebs"}},
			{Name: aws.String("virtualization-type"), Values: []string{"hvm"}},
		}}))(t)
	if len(src.Images) != 1 || aws.ToString(src.Images[0].Name) != SourceImageName {
		t.Fatalf("source image filter: %+v", src.Images)
	}
	sourceAMI := aws.ToString(src.Images[0].ImageId)

	// 3. Network: the default VPC and its subnet.
	vpcs := must(c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}}))(t)
	if len(vpcs.Vpcs) != 1 || !aws.ToBool(vpcs.Vpcs[0].IsDefault) {
		t.Fatalf("default VPC: %+v", vpcs.Vpcs)
	}
	subnets := must(c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{aws.ToString(vpcs.Vpcs[0].VpcId)}}}}))(t)
	if len(subnets.Subnets) != 1 {
		t.Fatalf("subnets: %+v", subnets.Subnets)
	}
	subnetID := aws.ToString(subnets.Subnets[0].SubnetId)

	// 4. Temporary key pair.
	keyName := "packer_" + runID
	kp := must(c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(keyName), KeyType: types.KeyTypeEd25519,
		TagSpecifications: []types.TagSpecification{tags(types.ResourceTypeKeyPair)}}))(t)
	signer := must(ssh.ParsePrivateKey([]byte(aws.ToString(kp.KeyMaterial))))(t)
	if !strings.Contains(aws.ToString(kp.KeyMaterial), "BEGIN OPENSSH PRIVATE KEY") {
		t.Errorf("ed25519 key material is not in OpenSSH format")
	}

	// 5. Temporary security group.
	sg := must(c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("packer_" + runID),
		Description: aws.String("temporary"), VpcId: vpcs.Vpcs[0].VpcId,
		TagSpecifications: []types.TagSpecification{tags(types.ResourceTypeSecurityGroup)}}))(t)
	sgID := aws.ToString(sg.GroupId)
	sgw := ec2.NewSecurityGroupExistsWaiter(c, func(o *ec2.SecurityGroupExistsWaiterOptions) { o.MinDelay, o.MaxDelay = minDelay, maxDelay })
	if err := sgw.Wait(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{sgID}}, maxWait); err != nil {
		t.Fatalf("SecurityGroupExists waiter: %v", err)
	}
	must(c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sgID),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}))(t)

	// 8. Source instance.
	launch := func(ami string) string {
		out := must(c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(ami), InstanceType: types.InstanceTypeT3Small,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), KeyName: aws.String(keyName), SecurityGroupIds: []string{sgID},
			SubnetId: aws.String(subnetID), UserData: aws.String(base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho user-data\n"))),
			InstanceInitiatedShutdownBehavior: types.ShutdownBehaviorTerminate,
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"),
				Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(10), VolumeType: types.VolumeTypeGp3, DeleteOnTermination: aws.Bool(true)}}},
			TagSpecifications: []types.TagSpecification{tags(types.ResourceTypeInstance), tags(types.ResourceTypeVolume)}}))(t)
		if len(out.Instances) != 1 || out.Instances[0].State.Name != types.InstanceStateNamePending {
			t.Fatalf("RunInstances: %+v", out.Instances)
		}
		id := aws.ToString(out.Instances[0].InstanceId)
		waitRunning(ctx, t, c, id)
		return id
	}
	// sshRun runs cmd as root on the instance, finding its port the way a
	// builder's test hook does: through the pipe:fake-ssh-port tag.
	sshRun := func(id, cmd string) string {
		t.Helper()
		desc := must(c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}))(t)
		in := desc.Reservations[0].Instances[0]
		port := 0
		for _, tag := range in.Tags {
			if aws.ToString(tag.Key) == SSHPortTag {
				port, _ = strconv.Atoi(aws.ToString(tag.Value))
			}
		}
		if port == 0 || port != f.SSHPort(id) {
			t.Fatalf("ssh port tag %d, SSHPort %d", port, f.SSHPort(id))
		}
		info, _ := f.Instance(id)
		conn, err := ssh.Dial("tcp", fmt.Sprintf("%s:%d", aws.ToString(in.PublicIpAddress), port), &ssh.ClientConfig{
			User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.FixedHostKey(info.HostKey), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("ssh to %s: %v", id, err)
		}
		defer conn.Close()
		sess := must(conn.NewSession())(t)
		defer sess.Close()
		out, err := sess.CombinedOutput(cmd)
		if err != nil {
			t.Fatalf("ssh %s %q: %v: %s", id, cmd, err, out)
		}
		return string(out)
	}

	inst := launch(sourceAMI)
	desc := must(c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + runTag), Values: []string{runID}},
		{Name: aws.String("instance-state-name"), Values: []string{"running"}}}}))(t)
	if len(desc.Reservations) != 1 || aws.ToString(desc.Reservations[0].Instances[0].PublicIpAddress) != "127.0.0.1" {
		t.Fatalf("DescribeInstances by tag: %+v", desc.Reservations)
	}
	info, _ := f.Instance(inst)
	if string(info.UserData) != "#!/bin/sh\necho user-data\n" || info.ShutdownBehavior != "terminate" ||
		info.BlockDeviceMappings[0].VolumeSize != 10 || info.Tags[runTag] != runID {
		t.Errorf("recorded instance: %+v", info)
	}

	// 11–13. Connect and provision.
	if boot {
		if out := sshRun(inst, "echo hi > /root/built && id -u && cat /etc/os-release"); !strings.HasPrefix(out, "0\n") || !strings.Contains(out, "bookworm") {
			t.Errorf("provisioning output: %q", out)
		}
	}

	// 15. Stop.
	must(c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{inst}}))(t)
	waitStopped(ctx, t, c, inst)

	// 18. Create the AMI.
	img := must(c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(inst), Name: aws.String(amiName),
		Description: aws.String("base"), TagSpecifications: []types.TagSpecification{tags(types.ResourceTypeImage), tags(types.ResourceTypeSnapshot)}}))(t)
	ami := aws.ToString(img.ImageId)
	waitImage(ctx, t, c, ami)
	imgs := must(c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}}))(t)
	snap := aws.ToString(imgs.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
	if !strings.HasPrefix(snap, "snap-") || aws.ToInt32(imgs.Images[0].BlockDeviceMappings[0].Ebs.VolumeSize) != 10 {
		t.Fatalf("image block devices: %+v", imgs.Images[0].BlockDeviceMappings)
	}
	dup, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(inst), Name: aws.String(amiName)})
	if code(err) != "InvalidAMIName.Duplicate" {
		t.Errorf("duplicate AMI name: %v, %v", dup, err)
	}

	// Cleanup of the source instance.
	must(c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{inst}}))(t)
	waitTerminated(ctx, t, c, inst)

	// The next stage boots from the new AMI and sees the file.
	app := launch(ami)
	if boot {
		if out := sshRun(app, "cat /root/built"); out != "hi\n" {
			t.Errorf("cat /root/built on an instance of the new AMI: %q", out)
		}
	}

	// 19. Copy to a second region.
	cp := must(c2.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(ami), SourceRegion: aws.String(buildRegion),
		Name: aws.String(amiName), CopyImageTags: aws.Bool(true)}))(t)
	copied := aws.ToString(cp.ImageId)
	waitImage(ctx, t, c2, copied)
	cimgs := must(c2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("tag:" + runTag), Values: []string{runID}}}}))(t)
	if len(cimgs.Images) != 1 || aws.ToString(cimgs.Images[0].ImageId) != copied {
		t.Fatalf("copied image by tag in %s: %+v", copyRegion, cimgs.Images)
	}
	csnap := aws.ToString(cimgs.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
	if _, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{copied}}); code(err) != "InvalidAMIID.NotFound" {
		t.Errorf("copied image seen in the build region: %v", err)
	}

	// 24–25. Attributes and tags in each region.
	for _, x := range []struct {
		c         *ec2.Client
		ami, snap string
	}{{c, ami, snap}, {c2, copied, csnap}} {
		must(x.c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(x.ami),
			LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String("111122223333")}}}}))(t)
		must(x.c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(x.ami),
			Description: &types.AttributeValue{Value: aws.String("golden base")}}))(t)
		must(x.c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{x.ami, x.snap},
			Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("base")}}}))(t)
		lp := must(x.c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(x.ami), Attribute: types.ImageAttributeNameLaunchPermission}))(t)
		if len(lp.LaunchPermissions) != 1 || aws.ToString(lp.LaunchPermissions[0].UserId) != "111122223333" {
			t.Errorf("launch permissions of %s: %+v", x.ami, lp.LaunchPermissions)
		}
		im, _ := f.Image(x.ami)
		if im.Description != "golden base" || im.Tags["Name"] != "base" || im.Tags[runTag] != runID {
			t.Errorf("image %s: %+v", x.ami, im)
		}
	}

	if left := f.Leftovers(runTag, runID); len(left) != 6 { // app instance, key, sg, 2 images, 1 snapshot (CopyImageTags copies only the AMI's tags)
		t.Errorf("leftovers before cleanup: %v", left)
	}

	// Cleanup, in Packer's order.
	must(c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{app}}))(t)
	if _, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(sgID)}); err == nil && f.opts.Delays.InstanceTerminating > 0 {
		t.Errorf("DeleteSecurityGroup while its instance shuts down succeeded")
	}
	waitTerminated(ctx, t, c, app)
	if _, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(sgID)}); err != nil && code(err) != "InvalidGroup.NotFound" {
		t.Fatalf("DeleteSecurityGroup: %v", err)
	}
	must(c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(keyName)}))(t)
	if _, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)}); code(err) != "InvalidSnapshot.InUse" {
		t.Errorf("DeleteSnapshot of a registered image's snapshot: %v", err)
	}
	for _, x := range []struct {
		c         *ec2.Client
		ami, snap string
	}{{c, ami, snap}, {c2, copied, csnap}} {
		must(x.c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(x.ami)}))(t)
		must(x.c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(x.snap)}))(t)
	}
	if left := f.Leftovers(runTag, runID); len(left) != 0 {
		t.Errorf("leftovers after cleanup: %v", left)
	}
	if left := f.Leftovers("", ""); len(left) != 0 {
		t.Errorf("untagged leftovers after cleanup: %v", left)
	}
	if f.MutatingCalls() == 0 || f.Calls()["RunInstances"] < 2 {
		t.Errorf("calls: %v", f.Calls())
	}
}

// TestPackerSequenceAPI runs the sequence against instances that run
// nothing, with delays, so waiters really wait.
func TestPackerSequenceAPI(t *testing.T) {
	f := New(Options{Delays: Delays{InstanceRunning: 50 * time.Millisecond, InstanceStopping: 50 * time.Millisecond,
		InstanceTerminating: 50 * time.Millisecond, ImageAvailable: 80 * time.Millisecond}})
	packerSequence(t, f, f.Start(t), false)
}

// TestPackerSequenceThrottled completes with 30% of calls throttled: the
// SDK retries RequestLimitExceeded.
func TestPackerSequenceThrottled(t *testing.T) {
	f := New(Options{ThrottleRate: 0.3, Seed: 42})
	packerSequence(t, f, f.Start(t), false)
	if f.Throttled() == 0 {
		t.Errorf("nothing was throttled")
	}
	t.Logf("throttled %d calls, %d mutating calls", f.Throttled(), f.MutatingCalls())
}

// TestPackerSequenceSSHD boots every instance as a real chrooted sshd: a
// file written over SSH into the first instance is there in an instance
// of the image captured from it.
func TestPackerSequenceSSHD(t *testing.T) {
	runner := RequireSSHD(t, SSHDOptions{})
	f := New(Options{Runner: runner, Delays: Delays{InstanceRunning: 20 * time.Millisecond, ImageAvailable: 20 * time.Millisecond}})
	packerSequence(t, f, f.Start(t), true)
}
