package amazon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/pipebuild/pipe/builders"
)

// Artifact.Data keys: "region" is the build region; "ami.<region>" and
// "snapshots.<region>" (comma-separated) exist for the build region and
// every copy.
const (
	dataRegion = "region"
	dataAMI    = "ami."
	dataSnaps  = "snapshots."
)

// publishTimeout bounds retrying Publish while EC2 does not show a new
// AMI's snapshots yet.
const publishTimeout = 5 * time.Minute

func amiKey(region string) string { return dataAMI + region }

// artifact describes the AMIs of a finished build. Its ID lists every
// region's AMI, build region first ("us-east-1:ami-1,eu-west-1:ami-2").
func (bd *build) artifact() *builders.Artifact {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	a := &builders.Artifact{Builder: Type, Data: map[string]string{dataRegion: bd.cfg.Region}}
	ids := []string{}
	for _, r := range append([]string{bd.cfg.Region}, slices.Sorted(maps.Keys(bd.images))...) {
		img := bd.images[r]
		if _, dup := a.Data[amiKey(r)]; dup || img == nil {
			continue
		}
		a.Data[amiKey(r)] = img.id
		a.Data[dataSnaps+r] = strings.Join(img.snapshots, ",")
		ids = append(ids, r+":"+img.id)
	}
	a.ID = strings.Join(ids, ",")
	a.OutputID = a.Data[amiKey(bd.cfg.Region)]
	return a
}

// amis returns region → AMI id of an artifact, in region order.
func amis(a *builders.Artifact) map[string]string {
	out := map[string]string{}
	for k, v := range a.Data {
		if r, ok := strings.CutPrefix(k, dataAMI); ok && v != "" {
			out[r] = v
		}
	}
	return out
}

// Exists implements builders.Exister: every region's AMI is available.
func (b *Builder) Exists(ctx context.Context, _ *builders.Spec, a *builders.Artifact) (bool, error) {
	byRegion := amis(a)
	if len(byRegion) == 0 {
		return false, nil
	}
	for _, r := range slices.Sorted(maps.Keys(byRegion)) {
		cl, err := b.clients.get(ctx, r)
		if err != nil {
			return false, err
		}
		im, err := describeImage(ctx, cl, byRegion[r])
		if isNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("describe AMI %s in %s: %w", byRegion[r], r, err)
		}
		if im.State != types.ImageStateAvailable {
			return false, nil
		}
	}
	return true, nil
}

// Publish implements builders.Publisher. In every region it sets tags,
// snapshot tags, the description and launch permissions, removes
// pipe:temporary (the cache record exists by now) and moves pipe:current
// from the node's older AMIs to this one. It describes first and changes
// only what differs, so publishing a reused artifact makes no mutating
// call.
func (b *Builder) Publish(ctx context.Context, spec *builders.Spec, a *builders.Artifact) error {
	c := spec.Config.(*Config)
	byRegion := amis(a)
	var errs []error
	for _, r := range slices.Sorted(maps.Keys(byRegion)) {
		cl, err := b.clients.get(ctx, r)
		if err != nil {
			return err
		}
		p := &publisher{cl: cl, spec: spec, cfg: c, region: r}
		// Publish is idempotent, so a NotFound of a just-created snapshot
		// (eventual consistency) retries all of it.
		err = newWaiter(c.scale()).wait(ctx, "publish", publishTimeout, func(ctx context.Context) (bool, error) {
			return true, p.publish(ctx, byRegion[r])
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("AMI %s in %s: %w", byRegion[r], r, err))
		}
	}
	return errors.Join(errs...)
}

// publisher applies the kept-out fields to one region's AMI.
type publisher struct {
	cl     ec2API
	spec   *builders.Spec
	cfg    *Config
	region string
}

func (p *publisher) publish(ctx context.Context, id string) error {
	im, err := describeImage(ctx, p.cl, id)
	if err != nil {
		return err
	}
	want := maps.Clone(p.cfg.Tags)
	if want == nil {
		want = map[string]string{}
	}
	want[tagNode], want[tagPipeline], want[tagCurrent] = p.spec.Node, p.spec.Pipeline, "true"
	if err := syncTags(ctx, p.cl, []string{id}, im.Tags, want); err != nil {
		return err
	}
	if err := p.snapshots(ctx, snapshotIDs(im)); err != nil {
		return err
	}
	if err := p.attributes(ctx, im); err != nil {
		return err
	}
	if p.spec.Ledger != nil {
		// The AMI is a kept artifact now; the build no longer owns it.
		_ = p.spec.Ledger.Forget(builders.Resource{Builder: Type, Region: p.region, Kind: "image", Name: str(im.Name), ID: id})
	}
	return p.moveCurrent(ctx, id)
}

// syncTags makes the tags of resources (which now have have) include want
// and not pipe:temporary, with a call only for what differs.
func syncTags(ctx context.Context, cl ec2API, resources []string, have []types.Tag, want map[string]string) error {
	cur := map[string]string{}
	for _, t := range have {
		cur[str(t.Key)] = str(t.Value)
	}
	var add []types.Tag
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if v, ok := cur[k]; !ok || v != want[k] {
			add = append(add, types.Tag{Key: aws.String(k), Value: aws.String(want[k])})
		}
	}
	if len(add) > 0 {
		if _, err := cl.CreateTags(ctx, &ec2.CreateTagsInput{Resources: resources, Tags: add}); err != nil {
			return fmt.Errorf("tag %v: %w", resources, err)
		}
	}
	if _, ok := cur[tagTemporary]; ok {
		_, err := cl.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: resources, Tags: []types.Tag{{Key: aws.String(tagTemporary)}}})
		if err != nil {
			return fmt.Errorf("untag %v: %w", resources, err)
		}
	}
	return nil
}

// snapshots applies snapshot_tags and removes pipe:temporary from each
// snapshot.
func (p *publisher) snapshots(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	out, err := p.cl.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: ids})
	if err != nil {
		return fmt.Errorf("describe snapshots %v: %w", ids, err)
	}
	want := maps.Clone(p.cfg.SnapshotTags)
	for _, s := range out.Snapshots {
		if err := syncTags(ctx, p.cl, []string{str(s.SnapshotId)}, s.Tags, want); err != nil {
			return err
		}
	}
	return nil
}

// attributes sets the description and adds missing launch permissions.
func (p *publisher) attributes(ctx context.Context, im *types.Image) error {
	if d := p.cfg.AMIDescription; d != "" && d != str(im.Description) {
		_, err := p.cl.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: im.ImageId,
			Description: &types.AttributeValue{Value: aws.String(d)}})
		if err != nil {
			return fmt.Errorf("set description: %w", err)
		}
	}
	if len(p.cfg.AMIUsers) == 0 {
		return nil
	}
	out, err := p.cl.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: im.ImageId,
		Attribute: types.ImageAttributeNameLaunchPermission})
	if err != nil {
		return fmt.Errorf("describe launch permissions: %w", err)
	}
	have := map[string]bool{}
	for _, lp := range out.LaunchPermissions {
		have[str(lp.UserId)] = true
	}
	var add []types.LaunchPermission
	for _, u := range p.cfg.AMIUsers {
		if !have[u] {
			add = append(add, types.LaunchPermission{UserId: aws.String(u)})
		}
	}
	if len(add) == 0 {
		return nil
	}
	_, err = p.cl.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: im.ImageId,
		LaunchPermission: &types.LaunchPermissionModifications{Add: add}})
	if err != nil {
		return fmt.Errorf("add launch permissions: %w", err)
	}
	return nil
}

// moveCurrent removes pipe:current from the node's other AMIs, after the
// new one carries it, so consumers always find a current AMI.
func (p *publisher) moveCurrent(ctx context.Context, id string) error {
	out, err := p.cl.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{
		{Name: aws.String("tag:" + tagNode), Values: []string{p.spec.Node}},
		{Name: aws.String("tag:" + tagPipeline), Values: []string{p.spec.Pipeline}},
		{Name: aws.String("tag:" + tagCurrent), Values: []string{"true"}},
	}})
	if err != nil {
		return fmt.Errorf("find current AMIs: %w", err)
	}
	var old []string
	for _, im := range out.Images {
		if str(im.ImageId) != id {
			old = append(old, str(im.ImageId))
		}
	}
	if len(old) == 0 {
		return nil
	}
	_, err = p.cl.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: old, Tags: []types.Tag{{Key: aws.String(tagCurrent)}}})
	if err != nil {
		return fmt.Errorf("move %s from %v: %w", tagCurrent, old, err)
	}
	return nil
}
