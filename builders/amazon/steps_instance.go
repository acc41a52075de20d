package amazon

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/aws/smithy-go"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// runInstance starts the build instance, tagged as temporary, with
// instance-initiated shutdown terminating it (the lifetime guard relies on
// it). Its undo terminates it, found by name if RunInstances never
// answered.
func (bd *build) runInstance(ctx context.Context) error {
	r := bd.resource(bd.cfg.Region, "instance", bd.name, "")
	if err := bd.record(r); err != nil {
		return err
	}
	bd.undo.Push("terminate instance "+bd.name, func(ctx context.Context) error {
		if err := terminate(ctx, bd.ec2, bd.w, bd.instanceID, bd.name, bd.stopTimeout()); err != nil {
			return err
		}
		bd.forget(r)
		return nil
	})
	out, err := bd.ec2.RunInstances(ctx, bd.runInput())
	if err != nil {
		return fmt.Errorf("run instance %s from %s: %w", bd.name, str(bd.source.ImageId), err)
	}
	if len(out.Instances) != 1 {
		return fmt.Errorf("run instance %s: got %d instances", bd.name, len(out.Instances))
	}
	bd.instanceID = str(out.Instances[0].InstanceId)
	r.ID = bd.instanceID
	logf(bd.spec.Log, "launched instance %s (%s) from %s", bd.instanceID, bd.cfg.InstanceType, str(bd.source.ImageId))
	return bd.record(r)
}

func (bd *build) runInput() *ec2.RunInstancesInput {
	c := bd.cfg
	tags := bd.tags(c.RunTags)
	in := &ec2.RunInstancesInput{
		ImageId: bd.source.ImageId, InstanceType: types.InstanceType(c.InstanceType),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), KeyName: aws.String(bd.keyName),
		ClientToken:                       aws.String(bd.name),
		InstanceInitiatedShutdownBehavior: types.ShutdownBehaviorTerminate,
		TagSpecifications:                 tagSpecs(tags, types.ResourceTypeInstance, types.ResourceTypeVolume),
		BlockDeviceMappings:               bd.launchMappings(),
	}
	if c.UserData != "" {
		in.UserData = aws.String(base64.StdEncoding.EncodeToString([]byte(c.UserData)))
	}
	if c.IAMInstanceProfile != "" {
		in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Name: aws.String(c.IAMInstanceProfile)}
	}
	if c.AssociatePublicIPAddress != nil {
		in.NetworkInterfaces = []types.InstanceNetworkInterfaceSpecification{{
			DeviceIndex: aws.Int32(0), AssociatePublicIpAddress: c.AssociatePublicIPAddress,
			SubnetId: optional(bd.subnetID), Groups: bd.sgIDs, DeleteOnTermination: aws.Bool(true),
		}}
		return in
	}
	in.SubnetId = optional(bd.subnetID)
	in.SecurityGroupIds = bd.sgIDs
	return in
}

// launchMappings are launch_block_device_mappings, with the source's root
// device encrypted when encrypt_boot is set, so the AMI's root snapshot
// is encrypted.
func (bd *build) launchMappings() []types.BlockDeviceMapping {
	out := mappings(bd.cfg.LaunchBlockDeviceMappings)
	if !bd.cfg.EncryptBoot {
		return out
	}
	root := str(bd.source.RootDeviceName)
	for i := range out {
		if str(out[i].DeviceName) == root && out[i].Ebs != nil {
			out[i].Ebs.Encrypted, out[i].Ebs.KmsKeyId = aws.Bool(true), optional(bd.cfg.KMSKeyID)
			return out
		}
	}
	return append(out, types.BlockDeviceMapping{DeviceName: aws.String(root),
		Ebs: &types.EbsBlockDevice{Encrypted: aws.Bool(true), KmsKeyId: optional(bd.cfg.KMSKeyID)}})
}

// mappings converts block devices to EC2's form.
func mappings(bds []BlockDevice) []types.BlockDeviceMapping {
	var out []types.BlockDeviceMapping
	for _, d := range bds {
		m := types.BlockDeviceMapping{DeviceName: aws.String(d.DeviceName)}
		if d.NoDevice {
			m.NoDevice = aws.String("")
			out = append(out, m)
			continue
		}
		m.Ebs = &types.EbsBlockDevice{Encrypted: d.Encrypted, DeleteOnTermination: d.DeleteOnTermination,
			KmsKeyId: optional(d.KMSKeyID), SnapshotId: optional(d.SnapshotID), VolumeType: types.VolumeType(d.VolumeType)}
		if d.VolumeSize > 0 {
			m.Ebs.VolumeSize = aws.Int32(d.VolumeSize)
		}
		if d.IOPS > 0 {
			m.Ebs.Iops = aws.Int32(d.IOPS)
		}
		if d.Throughput > 0 {
			m.Ebs.Throughput = aws.Int32(d.Throughput)
		}
		out = append(out, m)
	}
	return out
}

// waitRunning waits until the instance runs; one that terminates instead
// (a failed boot, capacity) is an error at once.
func (bd *build) waitRunning(ctx context.Context) error {
	timeout := durationOr(bd.cfg.InstanceRunningTimeout, defaultRunningTimeout)
	return bd.w.wait(ctx, "instance "+bd.instanceID+" to run", timeout, func(ctx context.Context) (bool, error) {
		inst, err := describeInstance(ctx, bd.ec2, bd.instanceID)
		if err != nil {
			return false, err
		}
		switch inst.State.Name {
		case types.InstanceStateNameRunning:
			bd.instance = inst
			return true, nil
		case types.InstanceStateNameShuttingDown, types.InstanceStateNameTerminated:
			return false, stop(fmt.Errorf("instance %s is %s: %s", bd.instanceID, inst.State.Name, reason(inst)))
		}
		return false, nil
	})
}

// stopInstance stops the instance and waits until it is stopped.
func (bd *build) stopInstance(ctx context.Context) error {
	logf(bd.spec.Log, "stopping instance %s", bd.instanceID)
	if _, err := bd.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{bd.instanceID}}); err != nil {
		return fmt.Errorf("stop instance %s: %w", bd.instanceID, err)
	}
	return bd.w.wait(ctx, "instance "+bd.instanceID+" to stop", bd.stopTimeout(), func(ctx context.Context) (bool, error) {
		inst, err := describeInstance(ctx, bd.ec2, bd.instanceID)
		if err != nil {
			return false, err
		}
		switch inst.State.Name {
		case types.InstanceStateNameStopped:
			return true, nil
		case types.InstanceStateNameShuttingDown, types.InstanceStateNameTerminated:
			return false, stop(fmt.Errorf("instance %s is %s while stopping: %s", bd.instanceID, inst.State.Name, reason(inst)))
		}
		return false, nil
	})
}

func (bd *build) stopTimeout() time.Duration {
	return durationOr(bd.cfg.InstanceStopTimeout, defaultStopTimeout)
}

func reason(inst *types.Instance) string {
	if inst.StateReason != nil {
		return str(inst.StateReason.Message)
	}
	return "no reason given"
}

// describeInstance returns one instance; an empty answer is reported as
// the NotFound EC2 gives for an unknown id.
func describeInstance(ctx context.Context, cl ec2API, id string) (*types.Instance, error) {
	out, err := cl.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return nil, err
	}
	for _, r := range out.Reservations {
		for i := range r.Instances {
			if str(r.Instances[i].InstanceId) == id {
				return &r.Instances[i], nil
			}
		}
	}
	return nil, &smithy.GenericAPIError{Code: "InvalidInstanceID.NotFound", Message: "instance " + id + " not listed"}
}

// terminate terminates an instance, found by its Name tag when its id is
// not known, and waits until it is terminated, so that its security group
// can be deleted. A missing instance is not an error.
func terminate(ctx context.Context, cl ec2API, w *waiter, id, name string, timeout time.Duration) error {
	if id == "" {
		found, err := findInstances(ctx, cl, []types.Filter{{Name: aws.String("tag:" + tagName), Values: []string{name}}})
		if err != nil || len(found) == 0 {
			return err
		}
		id = found[0]
	}
	_, err := cl.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("terminate instance %s: %w", id, err)
	}
	return w.wait(ctx, "instance "+id+" to terminate", timeout, func(ctx context.Context) (bool, error) {
		inst, err := describeInstance(ctx, cl, id)
		if isNotFound(err) {
			return true, nil
		}
		return err == nil && inst.State.Name == types.InstanceStateNameTerminated, err
	})
}

// findInstances lists the ids of instances matching fs that are not
// terminated.
func findInstances(ctx context.Context, cl ec2API, fs []types.Filter) ([]string, error) {
	fs = append(fs, types.Filter{Name: aws.String("instance-state-name"),
		Values: []string{"pending", "running", "stopping", "stopped", "shutting-down"}})
	out, err := cl.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: fs})
	if err != nil {
		return nil, fmt.Errorf("find instances: %w", err)
	}
	var ids []string
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			ids = append(ids, str(i.InstanceId))
		}
	}
	return ids, nil
}

// optional is nil for "", so that EC2 sees an unset field.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
