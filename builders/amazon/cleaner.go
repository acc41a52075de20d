package amazon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/pipebuild/pipe/builders"
)

// cleanTimeout bounds each wait of a clean-up (instance termination,
// security group and snapshot deletion).
const cleanTimeout = 10 * time.Minute

// kindOrder is the order clean-up deletes in: an instance holds its
// security group and key pair; an AMI holds its snapshots.
var kindOrder = []string{"instance", "image", "snapshot", "security-group", "key-pair"}

// Clean implements builders.Cleaner: it deletes a dead run's ledger
// entries, found by id or, when the run died before the create call
// returned, by name. An AMI or snapshot is deleted only while it is still
// tagged pipe:temporary, so an AMI that became a cache artifact is never
// touched. It returns what it deleted (or would delete, with dryRun).
func (b *Builder) Clean(ctx context.Context, rs []builders.Resource, dryRun bool) ([]builders.Resource, error) {
	var done []builders.Resource
	var errs []error
	for _, kind := range kindOrder {
		for _, r := range rs {
			if r.Kind != kind {
				continue
			}
			ok, err := b.cleanOne(ctx, r, dryRun)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s in %s: %w", r.Kind, firstOf(r.ID, r.Name), r.Region, err))
			}
			if ok {
				done = append(done, r)
			}
		}
	}
	return done, errors.Join(errs...)
}

// cleanOne deletes one resource if it still exists; it reports whether it
// did (or would).
func (b *Builder) cleanOne(ctx context.Context, r builders.Resource, dryRun bool) (bool, error) {
	cl, err := b.clients.get(ctx, r.Region)
	if err != nil {
		return false, err
	}
	w := newWaiter(1)
	switch r.Kind {
	case "instance":
		return cleanInstance(ctx, cl, w, r, dryRun)
	case "image":
		return cleanImage(ctx, cl, w, r, dryRun)
	case "snapshot":
		return cleanSnapshot(ctx, cl, w, r, dryRun)
	case "security-group":
		id := r.ID
		if id == "" {
			if id, err = findSecurityGroup(ctx, cl, r.Name); err != nil || id == "" {
				return false, err
			}
		}
		if dryRun {
			return true, nil
		}
		return true, deleteSecurityGroup(ctx, cl, w, id, r.Name)
	case "key-pair":
		out, err := cl.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{r.Name}})
		if isNotFound(err) || (err == nil && len(out.KeyPairs) == 0) {
			return false, nil
		}
		if err != nil || dryRun {
			return err == nil, err
		}
		return true, deleteKeyPair(ctx, cl, r.Name)
	}
	return false, fmt.Errorf("unknown resource kind %q", r.Kind)
}

func cleanInstance(ctx context.Context, cl ec2API, w *waiter, r builders.Resource, dryRun bool) (bool, error) {
	fs := []types.Filter{{Name: aws.String("tag:" + tagName), Values: []string{r.Name}}}
	if r.ID != "" {
		fs = []types.Filter{{Name: aws.String("instance-id"), Values: []string{r.ID}}}
	}
	ids, err := findInstances(ctx, cl, fs)
	if err != nil || len(ids) == 0 {
		return false, err
	}
	if dryRun {
		return true, nil
	}
	var errs []error
	for _, id := range ids {
		errs = append(errs, terminate(ctx, cl, w, id, r.Name, cleanTimeout))
	}
	return true, errors.Join(errs...)
}

func cleanImage(ctx context.Context, cl ec2API, w *waiter, r builders.Resource, dryRun bool) (bool, error) {
	var im *types.Image
	var err error
	if r.ID != "" {
		im, err = describeImage(ctx, cl, r.ID)
	} else {
		im, err = findImageByName(ctx, cl, r.Name)
	}
	if isNotFound(err) || (err == nil && (im == nil || !hasTag(im.Tags, tagTemporary))) {
		return false, nil
	}
	if err != nil || dryRun {
		return err == nil, err
	}
	return true, deregister(ctx, cl, w, im, cleanTimeout)
}

func cleanSnapshot(ctx context.Context, cl ec2API, w *waiter, r builders.Resource, dryRun bool) (bool, error) {
	out, err := cl.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{r.ID}})
	if isNotFound(err) || (err == nil && (len(out.Snapshots) == 0 || !hasTag(out.Snapshots[0].Tags, tagTemporary))) {
		return false, nil
	}
	if err != nil || dryRun {
		return err == nil, err
	}
	return true, deleteSnapshot(ctx, cl, w, r.ID, cleanTimeout)
}

func hasTag(tags []types.Tag, key string) bool {
	for _, t := range tags {
		if str(t.Key) == key {
			return true
		}
	}
	return false
}

func tagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if str(t.Key) == key {
			return str(t.Value)
		}
	}
	return ""
}

// Sweep implements builders.Cleaner: it finds everything in the config's
// region tagged pipe:temporary that keep refuses (a dead run's, not
// referenced by a record), and cleans it.
func (b *Builder) Sweep(ctx context.Context, config any, keep func(builders.Resource) bool, dryRun bool) ([]builders.Resource, error) {
	c, ok := config.(*Config)
	if !ok {
		return nil, fmt.Errorf("amazon-ebs: config is %T, want *amazon.Config", config)
	}
	cl, err := b.client(ctx, c.Region)
	if err != nil {
		return nil, err
	}
	found, err := findTemporary(ctx, cl, c.Region)
	if err != nil {
		return nil, err
	}
	var dead []builders.Resource
	for _, f := range found {
		r := f.Resource
		r.Run = f.run
		if f.run != "" && !keep(r) {
			dead = append(dead, r)
		}
	}
	return b.Clean(ctx, dead, dryRun)
}

// tagged is a resource found by its pipe:temporary tag.
type tagged struct {
	builders.Resource
	run string
}

// findTemporary lists every resource of region tagged pipe:temporary.
func findTemporary(ctx context.Context, cl ec2API, region string) ([]tagged, error) {
	tf := []types.Filter{{Name: aws.String("tag:" + tagTemporary), Values: []string{"true"}}}
	var out []tagged
	add := func(kind, id, name string, tags []types.Tag) {
		out = append(out, tagged{builders.Resource{Builder: Type, Region: region, Kind: kind, ID: id, Name: name,
			Node: tagValue(tags, tagNode)}, tagValue(tags, tagRun)})
	}
	inst, err := cl.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: append(tf, types.Filter{
		Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}})})
	if err != nil {
		return nil, fmt.Errorf("find temporary instances: %w", err)
	}
	for _, r := range inst.Reservations {
		for _, i := range r.Instances {
			add("instance", str(i.InstanceId), tagValue(i.Tags, tagName), i.Tags)
		}
	}
	imgs, err := cl.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: tf})
	if err != nil {
		return nil, fmt.Errorf("find temporary AMIs: %w", err)
	}
	for _, im := range imgs.Images {
		add("image", str(im.ImageId), str(im.Name), im.Tags)
	}
	snaps, err := cl.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: tf})
	if err != nil {
		return nil, fmt.Errorf("find temporary snapshots: %w", err)
	}
	for _, s := range snaps.Snapshots {
		add("snapshot", str(s.SnapshotId), "", s.Tags)
	}
	if err := findTemporaryAccess(ctx, cl, tf, add); err != nil {
		return nil, err
	}
	return out, nil
}

// findTemporaryAccess adds temporary security groups and key pairs.
func findTemporaryAccess(ctx context.Context, cl ec2API, tf []types.Filter, add func(kind, id, name string, tags []types.Tag)) error {
	sgs, err := cl.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: tf})
	if err != nil {
		return fmt.Errorf("find temporary security groups: %w", err)
	}
	for _, g := range sgs.SecurityGroups {
		add("security-group", str(g.GroupId), str(g.GroupName), g.Tags)
	}
	kps, err := cl.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: tf})
	if err != nil {
		return fmt.Errorf("find temporary key pairs: %w", err)
	}
	for _, k := range kps.KeyPairs {
		add("key-pair", str(k.KeyPairId), str(k.KeyName), k.Tags)
	}
	return nil
}
