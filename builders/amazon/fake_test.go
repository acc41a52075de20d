package amazon

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/pipebuild/pipe/stages"
)

// fakeEC2 is a small in-memory EC2 for unit tests: resources appear in
// their final state at once, every call is counted, and failAt makes the
// n-th mutating call fail. Calls it does not implement panic (the embedded
// nil interface).
type fakeEC2 struct {
	ec2API
	mu        sync.Mutex
	calls     []string
	mutations int
	failAt    int // 1-based index of the mutating call that fails; 0 never
	seq       int
	images    map[string]*types.Image
	snapshots map[string][]types.Tag
	instances map[string]*types.Instance
	sgs       map[string]string // id → name
	keys      map[string]bool
	attrs     map[string]int // ModifyImageAttribute calls per image
	// pendingImages keeps new AMIs pending for ever.
	pendingImages bool
}

func newFakeEC2() *fakeEC2 {
	f := &fakeEC2{images: map[string]*types.Image{}, snapshots: map[string][]types.Tag{},
		instances: map[string]*types.Instance{}, sgs: map[string]string{}, keys: map[string]bool{}, attrs: map[string]int{}}
	f.images["ami-source"] = &types.Image{ImageId: aws.String("ami-source"), Name: aws.String("debian-12"),
		State: types.ImageStateAvailable, RootDeviceName: aws.String("/dev/xvda"), CreationDate: aws.String("2024-01-01")}
	return f
}

func (f *fakeEC2) id(prefix string) string { f.seq++; return fmt.Sprintf("%s-%04d", prefix, f.seq) }

// call counts a call; a mutating one fails if it is the failAt-th.
func (f *fakeEC2) call(name string, mutating bool) error {
	f.calls = append(f.calls, name)
	if !mutating {
		return nil
	}
	f.mutations++
	if f.mutations == f.failAt {
		return &smithy.GenericAPIError{Code: "InjectedFailure", Message: name + " failed on purpose"}
	}
	return nil
}

// leftovers lists what exists besides the source AMI, sorted.
func (f *fakeEC2) leftovers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, i := range f.instances {
		if i.State.Name != types.InstanceStateNameTerminated {
			out = append(out, id)
		}
	}
	for id := range f.images {
		if id != "ami-source" {
			out = append(out, id)
		}
	}
	for id := range f.snapshots {
		out = append(out, id)
	}
	for id := range f.sgs {
		out = append(out, id)
	}
	for k := range f.keys {
		out = append(out, "key:"+k)
	}
	sort.Strings(out)
	return out
}

func notFound(code, id string) error {
	return &smithy.GenericAPIError{Code: code, Message: id + " does not exist"}
}

func (f *fakeEC2) DescribeRegions(_ context.Context, in *ec2.DescribeRegionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.call("DescribeRegions", false)
	out := &ec2.DescribeRegionsOutput{}
	for _, r := range in.RegionNames {
		if r != "nowhere-1" {
			out.Regions = append(out.Regions, types.Region{RegionName: aws.String(r)})
		}
	}
	return out, nil
}

func (f *fakeEC2) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.call("DescribeImages", false)
	out := &ec2.DescribeImagesOutput{}
	for _, im := range f.images {
		if matchImage(im, in) {
			out.Images = append(out.Images, *im)
		}
	}
	if len(in.ImageIds) > 0 && len(out.Images) == 0 {
		return nil, notFound("InvalidAMIID.NotFound", in.ImageIds[0])
	}
	return out, nil
}

// matchImage supports ids, name (exact or "prefix*") and tag:K filters.
func matchImage(im *types.Image, in *ec2.DescribeImagesInput) bool {
	if len(in.ImageIds) > 0 && in.ImageIds[0] != str(im.ImageId) {
		return false
	}
	for _, fl := range in.Filters {
		n, v := str(fl.Name), fl.Values[0]
		switch {
		case n == "name":
			if p, ok := strings.CutSuffix(v, "*"); !(ok && strings.HasPrefix(str(im.Name), p)) && v != str(im.Name) {
				return false
			}
		case n == "state":
			if string(im.State) != v {
				return false
			}
		case strings.HasPrefix(n, "tag:"):
			if tagValue(im.Tags, strings.TrimPrefix(n, "tag:")) != v {
				return false
			}
		}
	}
	return true
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.call("DescribeInstances", false)
	var res types.Reservation
	for id, i := range f.instances {
		if len(in.InstanceIds) > 0 && in.InstanceIds[0] != id {
			continue
		}
		if instanceMatches(i, in.Filters) {
			res.Instances = append(res.Instances, *i)
		}
	}
	return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{res}}, nil
}

func instanceMatches(i *types.Instance, fs []types.Filter) bool {
	for _, fl := range fs {
		n := str(fl.Name)
		switch {
		case n == "instance-state-name":
			if !strings.Contains(strings.Join(fl.Values, ","), string(i.State.Name)) {
				return false
			}
		case strings.HasPrefix(n, "tag:"):
			if tagValue(i.Tags, strings.TrimPrefix(n, "tag:")) != fl.Values[0] {
				return false
			}
		}
	}
	return true
}

func (f *fakeEC2) DescribeSecurityGroups(_ context.Context, in *ec2.DescribeSecurityGroupsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.call("DescribeSecurityGroups", false)
	out := &ec2.DescribeSecurityGroupsOutput{}
	for id, name := range f.sgs {
		if len(in.Filters) > 0 && str(in.Filters[0].Name) == "group-name" && in.Filters[0].Values[0] != name {
			continue
		}
		out.SecurityGroups = append(out.SecurityGroups, types.SecurityGroup{GroupId: aws.String(id), GroupName: aws.String(name)})
	}
	return out, nil
}

func (f *fakeEC2) DescribeSnapshots(_ context.Context, in *ec2.DescribeSnapshotsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.call("DescribeSnapshots", false)
	out := &ec2.DescribeSnapshotsOutput{}
	for _, id := range in.SnapshotIds {
		if tags, ok := f.snapshots[id]; ok {
			out.Snapshots = append(out.Snapshots, types.Snapshot{SnapshotId: aws.String(id), Tags: tags})
		}
	}
	return out, nil
}

func (f *fakeEC2) ImportKeyPair(_ context.Context, in *ec2.ImportKeyPairInput, _ ...func(*ec2.Options)) (*ec2.ImportKeyPairOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("ImportKeyPair", true); err != nil {
		return nil, err
	}
	f.keys[*in.KeyName] = true
	return &ec2.ImportKeyPairOutput{KeyName: in.KeyName, KeyPairId: aws.String(f.id("key"))}, nil
}

func (f *fakeEC2) DeleteKeyPair(_ context.Context, in *ec2.DeleteKeyPairInput, _ ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.call("DeleteKeyPair", false) // clean-up calls never fail here
	delete(f.keys, *in.KeyName)
	return &ec2.DeleteKeyPairOutput{}, nil
}

func (f *fakeEC2) CreateSecurityGroup(_ context.Context, in *ec2.CreateSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("CreateSecurityGroup", true); err != nil {
		return nil, err
	}
	id := f.id("sg")
	f.sgs[id] = *in.GroupName
	return &ec2.CreateSecurityGroupOutput{GroupId: aws.String(id)}, nil
}

func (f *fakeEC2) AuthorizeSecurityGroupIngress(_ context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, _ ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("AuthorizeSecurityGroupIngress", true); err != nil {
		return nil, err
	}
	return &ec2.AuthorizeSecurityGroupIngressOutput{}, nil
}

func (f *fakeEC2) DeleteSecurityGroup(_ context.Context, in *ec2.DeleteSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.call("DeleteSecurityGroup", false)
	if _, ok := f.sgs[*in.GroupId]; !ok {
		return nil, notFound("InvalidGroup.NotFound", *in.GroupId)
	}
	delete(f.sgs, *in.GroupId)
	return &ec2.DeleteSecurityGroupOutput{}, nil
}

func (f *fakeEC2) RunInstances(_ context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("RunInstances", true); err != nil {
		return nil, err
	}
	id := f.id("i")
	f.instances[id] = &types.Instance{InstanceId: aws.String(id), State: &types.InstanceState{Name: types.InstanceStateNameRunning},
		PublicIpAddress: aws.String("127.0.0.1"), Tags: in.TagSpecifications[0].Tags}
	return &ec2.RunInstancesOutput{Instances: []types.Instance{*f.instances[id]}}, nil
}

func (f *fakeEC2) setState(id string, s types.InstanceStateName) error {
	i, ok := f.instances[id]
	if !ok {
		return notFound("InvalidInstanceID.NotFound", id)
	}
	i.State = &types.InstanceState{Name: s}
	return nil
}

func (f *fakeEC2) StopInstances(_ context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("StopInstances", true); err != nil {
		return nil, err
	}
	return &ec2.StopInstancesOutput{}, f.setState(in.InstanceIds[0], types.InstanceStateNameStopped)
}

func (f *fakeEC2) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.call("TerminateInstances", false)
	return &ec2.TerminateInstancesOutput{}, f.setState(in.InstanceIds[0], types.InstanceStateNameTerminated)
}

func (f *fakeEC2) CreateImage(_ context.Context, in *ec2.CreateImageInput, _ ...func(*ec2.Options)) (*ec2.CreateImageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("CreateImage", true); err != nil {
		return nil, err
	}
	id, snap := f.id("ami"), f.id("snap")
	f.snapshots[snap] = in.TagSpecifications[1].Tags
	state := types.ImageStateAvailable
	if f.pendingImages {
		state = types.ImageStatePending
	}
	f.images[id] = &types.Image{ImageId: aws.String(id), Name: in.Name, State: state,
		Tags: in.TagSpecifications[0].Tags, BlockDeviceMappings: []types.BlockDeviceMapping{
			{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}}
	return &ec2.CreateImageOutput{ImageId: aws.String(id)}, nil
}

func (f *fakeEC2) DeregisterImage(_ context.Context, in *ec2.DeregisterImageInput, _ ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.call("DeregisterImage", false)
	delete(f.images, *in.ImageId)
	return &ec2.DeregisterImageOutput{}, nil
}

func (f *fakeEC2) DeleteSnapshot(_ context.Context, in *ec2.DeleteSnapshotInput, _ ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.call("DeleteSnapshot", false)
	delete(f.snapshots, *in.SnapshotId)
	return &ec2.DeleteSnapshotOutput{}, nil
}

// retag applies fn to the tags of each resource.
func (f *fakeEC2) retag(ids []string, fn func([]types.Tag) []types.Tag) {
	for _, id := range ids {
		if im, ok := f.images[id]; ok {
			im.Tags = fn(im.Tags)
		}
		if tags, ok := f.snapshots[id]; ok {
			f.snapshots[id] = fn(tags)
		}
	}
}

func (f *fakeEC2) CreateTags(_ context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("CreateTags", true); err != nil {
		return nil, err
	}
	f.retag(in.Resources, func(tags []types.Tag) []types.Tag {
		for _, t := range in.Tags {
			tags = append(removeTag(tags, *t.Key), t)
		}
		return tags
	})
	return &ec2.CreateTagsOutput{}, nil
}

func (f *fakeEC2) DeleteTags(_ context.Context, in *ec2.DeleteTagsInput, _ ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("DeleteTags", true); err != nil {
		return nil, err
	}
	f.retag(in.Resources, func(tags []types.Tag) []types.Tag {
		for _, t := range in.Tags {
			tags = removeTag(tags, *t.Key)
		}
		return tags
	})
	return &ec2.DeleteTagsOutput{}, nil
}

func removeTag(tags []types.Tag, key string) []types.Tag {
	var out []types.Tag
	for _, t := range tags {
		if *t.Key != key {
			out = append(out, t)
		}
	}
	return out
}

func (f *fakeEC2) ModifyImageAttribute(_ context.Context, in *ec2.ModifyImageAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyImageAttributeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("ModifyImageAttribute", true); err != nil {
		return nil, err
	}
	if in.Description != nil {
		f.images[*in.ImageId].Description = in.Description.Value
	}
	return &ec2.ModifyImageAttributeOutput{}, nil
}

// fakeComm accepts every command.
type fakeComm struct{ cmds []string }

func (c *fakeComm) Run(_ context.Context, cmd *stages.Cmd) (int, error) {
	c.cmds = append(c.cmds, cmd.Command)
	return 0, nil
}
func (c *fakeComm) Upload(context.Context, string, io.Reader, fs.FileMode) error { return nil }
func (c *fakeComm) UploadDir(context.Context, string, string) error              { return nil }
func (c *fakeComm) Download(context.Context, string, io.Writer) error            { return nil }

type fakeSSH struct{ comm *fakeComm }

func (s fakeSSH) Communicator() stages.Communicator { return s.comm }
func (s fakeSSH) Close() error                      { return nil }
