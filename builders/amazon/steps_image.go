package amazon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// amiName is the AMI's name: ami_name and the action id's first 12 hex
// digits, since AMI names cannot be reused or renamed.
func (bd *build) amiName() string {
	id := bd.spec.ActionID
	if _, hex, ok := strings.Cut(id, ":"); ok {
		id = hex // "sha256:…"
	}
	if len(id) > 12 {
		id = id[:12]
	}
	// The run's suffix makes the name unique even when the same key is
	// built again (--force, --no-cache, a lost record): AMI names cannot
	// be reused, and the earlier AMI may still be the published one.
	run := bd.spec.RunID
	if i := strings.LastIndex(run, "-"); i >= 0 {
		run = run[i+1:]
	}
	if len(run) > 6 {
		run = run[:6]
	}
	if run == "" {
		return bd.cfg.AMIName + "-" + id
	}
	return bd.cfg.AMIName + "-" + id + "-" + run
}

// createImage images the stopped instance and waits until the AMI is
// available. Its undo, pushed first, deregisters the AMI and deletes its
// snapshots unless Capture succeeds.
func (bd *build) createImage(ctx context.Context) error {
	img := &builtImage{region: bd.cfg.Region, name: bd.amiName()}
	if err := bd.trackImage(img, bd.ec2); err != nil {
		return err
	}
	logf(bd.spec.Log, "creating AMI %s from instance %s", img.name, bd.instanceID)
	out, err := bd.ec2.CreateImage(ctx, &ec2.CreateImageInput{
		InstanceId: aws.String(bd.instanceID), Name: aws.String(img.name),
		Description:         optional(bd.cfg.AMIDescription),
		BlockDeviceMappings: mappings(bd.cfg.AMIBlockDeviceMappings),
		TagSpecifications:   tagSpecs(bd.imageTags(img), types.ResourceTypeImage, types.ResourceTypeSnapshot),
	})
	if err != nil {
		return fmt.Errorf("create image %s: %w", img.name, err)
	}
	bd.setImageID(img, str(out.ImageId))
	if err := bd.record(bd.resource(img.region, "image", img.name, img.id)); err != nil {
		return err
	}
	return bd.waitImage(ctx, bd.ec2, img)
}

// imageTags are the temporary tags of an AMI and its snapshots; Publish
// removes pipe:temporary after the cache record is written.
func (bd *build) imageTags(img *builtImage) []types.Tag {
	t := bd.tags(nil)
	t[0].Value = aws.String(img.name)
	return t
}

// trackImage records an AMI about to be created in the ledger and pushes
// its undo.
func (bd *build) trackImage(img *builtImage, cl ec2API) error {
	r := bd.resource(img.region, "image", img.name, "")
	if err := bd.record(r); err != nil {
		return err
	}
	bd.mu.Lock()
	bd.images[img.region] = img
	bd.mu.Unlock()
	bd.undo.Push("deregister AMI "+img.name+" in "+img.region, func(ctx context.Context) error {
		bd.mu.Lock()
		keep, id := bd.keep, img.id
		bd.mu.Unlock()
		if keep {
			return nil
		}
		if err := deleteImage(ctx, cl, bd.w, id, img.name, bd.spec.RunID, bd.amiTimeout()); err != nil {
			return err
		}
		bd.forget(r)
		return nil
	})
	return nil
}

func (bd *build) setImageID(img *builtImage, id string) {
	bd.mu.Lock()
	img.id = id
	bd.mu.Unlock()
}

func (bd *build) amiTimeout() time.Duration {
	return durationOr(bd.cfg.AMIAvailableTimeout, defaultAMITimeout)
}

// waitImage waits until img is available and notes its snapshots.
func (bd *build) waitImage(ctx context.Context, cl ec2API, img *builtImage) error {
	what := "AMI " + img.id + " in " + img.region + " to be available"
	return bd.w.wait(ctx, what, bd.amiTimeout(), func(ctx context.Context) (bool, error) {
		im, err := describeImage(ctx, cl, img.id)
		if err != nil {
			return false, err
		}
		switch im.State {
		case types.ImageStateAvailable:
			bd.mu.Lock()
			img.snapshots = snapshotIDs(im)
			bd.mu.Unlock()
			return true, nil
		case types.ImageStateFailed, types.ImageStateError, types.ImageStateInvalid, types.ImageStateDeregistered:
			msg := ""
			if im.StateReason != nil {
				msg = str(im.StateReason.Message)
			}
			return false, stop(fmt.Errorf("AMI %s is %s: %s", img.id, im.State, msg))
		}
		return false, nil
	})
}

// copyImages copies the AMI to every ami_region in parallel and waits for
// all copies; each copy is recorded and undone like the AMI itself.
func (bd *build) copyImages(ctx context.Context) error {
	src := bd.images[bd.cfg.Region]
	var wg sync.WaitGroup
	errs := make([]error, len(bd.cfg.AMIRegions))
	for i, region := range bd.cfg.AMIRegions {
		if region == bd.cfg.Region {
			continue
		}
		wg.Go(func() { errs[i] = bd.copyImage(ctx, src, region) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (bd *build) copyImage(ctx context.Context, src *builtImage, region string) error {
	cl, err := bd.b.client(ctx, region)
	if err != nil {
		return err
	}
	img := &builtImage{region: region, name: src.name}
	if err := bd.trackImage(img, cl); err != nil {
		return err
	}
	in := &ec2.CopyImageInput{SourceImageId: aws.String(src.id), SourceRegion: aws.String(src.region),
		Name: aws.String(img.name), Description: optional(bd.cfg.AMIDescription),
		ClientToken:       aws.String(bd.name + "-" + region),
		TagSpecifications: tagSpecs(bd.imageTags(img), types.ResourceTypeImage)}
	if bd.cfg.EncryptBoot {
		in.Encrypted, in.KmsKeyId = aws.Bool(true), optional(bd.cfg.KMSKeyID)
	}
	out, err := cl.CopyImage(ctx, in)
	if err != nil {
		return fmt.Errorf("copy AMI %s to %s: %w", src.id, region, err)
	}
	bd.setImageID(img, str(out.ImageId))
	if err := bd.record(bd.resource(region, "image", img.name, img.id)); err != nil {
		return err
	}
	if err := bd.waitImage(ctx, cl, img); err != nil {
		return err
	}
	return tagSnapshots(ctx, cl, img.snapshots, bd.imageTags(img))
}

// tagSnapshots tags a copy's snapshots, which CopyImage cannot tag.
func tagSnapshots(ctx context.Context, cl ec2API, snaps []string, tags []types.Tag) error {
	if len(snaps) == 0 {
		return nil
	}
	if _, err := cl.CreateTags(ctx, &ec2.CreateTagsInput{Resources: snaps, Tags: tags}); err != nil {
		return fmt.Errorf("tag snapshots %v: %w", snaps, err)
	}
	return nil
}

// describeImage returns one image, or a NotFound error.
func describeImage(ctx context.Context, cl ec2API, id string) (*types.Image, error) {
	out, err := cl.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil {
		return nil, err
	}
	if len(out.Images) == 0 {
		return nil, &smithy.GenericAPIError{Code: "InvalidAMIID.NotFound", Message: "AMI " + id + " not listed"}
	}
	return &out.Images[0], nil
}

// snapshotIDs lists the EBS snapshots of an image.
func snapshotIDs(im *types.Image) []string {
	var out []string
	for _, m := range im.BlockDeviceMappings {
		if m.Ebs != nil && m.Ebs.SnapshotId != nil {
			out = append(out, *m.Ebs.SnapshotId)
		}
	}
	return out
}

// deleteImage deregisters an AMI, found by name among the account's own
// when its id is not known, and deletes its snapshots. A missing AMI is
// not an error.
func deleteImage(ctx context.Context, cl ec2API, w *waiter, id, name, run string, timeout time.Duration) error {
	var im *types.Image
	var err error
	if id == "" {
		im, err = findImageByName(ctx, cl, name)
		// Found by name only (CreateImage's answer was lost): it is ours
		// only if this run tagged it. Never deregister someone else's AMI.
		if err == nil && im != nil && tagValue(im.Tags, tagRun) != run {
			return nil
		}
	} else {
		im, err = describeImage(ctx, cl, id)
	}
	if isNotFound(err) || (err == nil && im == nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deregister AMI %s: %w", firstOf(id, name), err)
	}
	return deregister(ctx, cl, w, im, timeout)
}

// deregister deregisters im, waiting while it is still pending (EC2 refuses
// to deregister a pending AMI in some cases), then deletes its snapshots.
func deregister(ctx context.Context, cl ec2API, w *waiter, im *types.Image, timeout time.Duration) error {
	id := str(im.ImageId)
	if _, err := cl.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: im.ImageId}); err != nil && !isNotFound(err) {
		return fmt.Errorf("deregister AMI %s: %w", id, err)
	}
	snaps := snapshotIDs(im)
	if len(snaps) == 0 && im.State == types.ImageStatePending {
		// A pending AMI may not list its snapshots yet: find them by tag.
		found, err := findSnapshots(ctx, cl, []types.Filter{{Name: aws.String("tag:" + tagName), Values: []string{str(im.Name)}}})
		if err != nil {
			return err
		}
		snaps = found
	}
	var errs []error
	for _, s := range snaps {
		errs = append(errs, deleteSnapshot(ctx, cl, w, s, timeout))
	}
	return errors.Join(errs...)
}

// deleteSnapshot deletes a snapshot, retrying while the AMI that used it is
// still being deregistered (InvalidSnapshot.InUse).
func deleteSnapshot(ctx context.Context, cl ec2API, w *waiter, id string, timeout time.Duration) error {
	return w.wait(ctx, "deletion of snapshot "+id, timeout, func(ctx context.Context) (bool, error) {
		_, err := cl.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
		switch {
		case err == nil, isNotFound(err):
			return true, nil
		case apiCode(err) == "InvalidSnapshot.InUse":
			return false, nil
		}
		return false, stop(fmt.Errorf("delete snapshot %s: %w", id, err))
	})
}

// findImageByName returns the account's AMI named name, or nil.
func findImageByName(ctx context.Context, cl ec2API, name string) (*types.Image, error) {
	out, err := cl.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
	if err != nil {
		return nil, fmt.Errorf("find AMI %s: %w", name, err)
	}
	if len(out.Images) == 0 {
		return nil, nil
	}
	return &out.Images[0], nil
}

// findSnapshots lists the account's snapshots matching fs.
func findSnapshots(ctx context.Context, cl ec2API, fs []types.Filter) ([]string, error) {
	out, err := cl.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: fs})
	if err != nil {
		return nil, fmt.Errorf("find snapshots: %w", err)
	}
	var ids []string
	for _, s := range out.Snapshots {
		ids = append(ids, str(s.SnapshotId))
	}
	return ids, nil
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
