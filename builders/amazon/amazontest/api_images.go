package amazontest

import (
	"fmt"
	"regexp"
	"strconv"
)

var imageFilters = (&image{}).filterFields()

func (im *image) filterFields() map[string][]string {
	m := map[string][]string{
		"name": one(im.name), "state": one(im.state), "image-id": one(im.id), "owner-id": one(im.ownerID),
		"owner-alias": nil, "architecture": one("x86_64"), "virtualization-type": one("hvm"),
		"root-device-type": one("ebs"), "root-device-name": one(rootDevice), "is-public": one(boolStr(im.public)),
		"image-type": one("machine"), "description": one(im.description), "platform-details": one("Linux/UNIX"),
		"hypervisor": one("xen"), "ena-support": one("true"), "creation-date": one(ec2Time(im.created)),
		"source-instance-id":               one(im.sourceInstanceID),
		"block-device-mapping.snapshot-id": nil, "block-device-mapping.device-name": nil,
		"block-device-mapping.volume-size": nil, "block-device-mapping.volume-type": nil,
		"block-device-mapping.encrypted": nil, "block-device-mapping.delete-on-termination": nil,
	}
	for _, bd := range im.blockDevices {
		m["block-device-mapping.device-name"] = append(m["block-device-mapping.device-name"], bd.DeviceName)
		m["block-device-mapping.snapshot-id"] = append(m["block-device-mapping.snapshot-id"], bd.SnapshotID)
		m["block-device-mapping.volume-size"] = append(m["block-device-mapping.volume-size"], strconv.Itoa(bd.VolumeSize))
		m["block-device-mapping.volume-type"] = append(m["block-device-mapping.volume-type"], bd.VolumeType)
		m["block-device-mapping.encrypted"] = append(m["block-device-mapping.encrypted"], boolStr(bd.Encrypted))
		m["block-device-mapping.delete-on-termination"] = append(m["block-device-mapping.delete-on-termination"], boolStr(bd.DeleteOnTermination))
	}
	return m
}

// visible reports whether the caller's account may see and launch im.
func (f *Fake) visible(im *image) bool {
	return im.ownerID == f.opts.AccountID || im.public || contains(im.launchUsers, f.opts.AccountID)
}

func (f *Fake) imageXML(im *image) imageXML {
	return imageXML{ImageID: im.id, ImageLocation: im.ownerID + "/" + im.name, ImageState: im.state,
		ImageOwnerID: im.ownerID, CreationDate: ec2Time(im.created), IsPublic: im.public, Architecture: "x86_64",
		ImageType: "machine", SourceInstanceID: im.sourceInstanceID, SourceImageID: im.sourceImageID,
		SourceImageRegion: im.sourceRegion, Name: im.name, Description: im.description, RootDeviceType: "ebs",
		RootDeviceName: rootDevice, BlockDevices: blockDevicesXML(im.blockDevices), VirtualizationType: "hvm",
		Hypervisor: "xen", EnaSupport: true, PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances",
		BootMode: "uefi-preferred", Tags: tagsXML(im.tags)}
}

// describeImages: ImageId.N, Owner.N ("self" or account ids), Filter.
// Without ImageId or Owner it lists every image the account can launch.
func (f *Fake) describeImages(c *call) (reply, error) {
	r, a := c.region, c.args
	fs := parseFilters(a)
	if err := checkFilters(fs, imageFilters); err != nil {
		return nil, err
	}
	ids := a.List("ImageId")
	for _, id := range ids {
		if idPrefix(id) != "ami" {
			return nil, errf("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
		}
		if im, ok := r.images[id]; !ok || !f.visible(im) || !r.seen(id) {
			return nil, errNotFound(id)
		}
	}
	var owners []string
	for _, o := range a.List("Owner") {
		if o == "self" {
			o = f.opts.AccountID
		}
		owners = append(owners, o)
	}
	out := &describeImagesReply{}
	for _, im := range sortedBySeq(r.images, func(im *image) int64 { return im.seq }) {
		if !f.visible(im) {
			continue
		}
		if len(ids) > 0 && !contains(ids, im.id) || len(owners) > 0 && !contains(owners, im.ownerID) {
			continue
		}
		if !matchFilters(fs, fields(im.filterFields()), im.tags) {
			continue
		}
		if len(ids) == 0 && !r.seen(im.id) {
			continue
		}
		out.Images = append(out.Images, f.imageXML(im))
	}
	return out, nil
}

var amiNameRE = regexp.MustCompile(`^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}$`)

// checkImageName applies EC2's AMI name rules: 3–128 characters of
// letters, digits, ()[] ./-'@_, unique among the account's images in the
// region.
func (f *Fake) checkImageName(r *region, name string) *apiError {
	if name == "" {
		return errMissing("Name")
	}
	if !amiNameRE.MatchString(name) {
		return errf("InvalidAMIName.Malformed", "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/', '_', '[', ']', ' ', '@' and ''' (got %q)", name)
	}
	for _, im := range r.images {
		if im.ownerID == f.opts.AccountID && im.name == name {
			return errf("InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI %s", name, im.id)
		}
	}
	return nil
}

// newSnapshot records a pending snapshot owned by the caller's account.
func (f *Fake) newSnapshot(r *region, c *call, size int, desc string, tags map[string]string) *snapshot {
	s := &snapshot{seq: f.nextSeq(), id: f.newID("snap"), volumeID: f.newID("vol"), ownerID: f.opts.AccountID,
		description: desc, size: size, state: snapshotPending, started: c.now, tags: tags,
		next: &transition{to: snapshotComplete, at: c.now.Add(f.opts.Delays.ImageAvailable)}}
	if s.size == 0 {
		s.size = 8
	}
	r.snapshots[s.id] = s
	return s
}

// createImage: InstanceId, Name, Description, NoReboot,
// BlockDeviceMapping.N, TagSpecification (image, snapshot). The root
// volume's contents are copied by the Runner at once; the image reports
// pending until Delays.ImageAvailable passed.
func (f *Fake) createImage(c *call) (reply, error) {
	r, a := c.region, c.args
	id := a.Str("InstanceId")
	if id == "" {
		return nil, errMissing("InstanceId")
	}
	in, ok := r.instances[id]
	if !ok {
		return nil, errNotFound(id)
	}
	if in.state != stateRunning && in.state != stateStopped {
		return nil, errf("IncorrectInstanceState", "Instance '%s' is not in a valid state for this operation (%s).", id, in.state)
	}
	name := a.Str("Name")
	if err := f.checkImageName(r, name); err != nil {
		return nil, err
	}
	if err := validTagSpecTypes(a, "image", "snapshot"); err != nil {
		return nil, err
	}
	reqBDs, aerr := parseBlockDevices(a)
	if aerr != nil {
		return nil, aerr
	}
	im := &image{seq: f.nextSeq(), id: f.newID("ami"), name: name, description: a.Str("Description"),
		ownerID: f.opts.AccountID, state: imagePending, created: c.now, sourceInstanceID: in.id,
		next: &transition{to: imageAvailable, at: c.now.Add(f.opts.Delays.ImageAvailable)},
		tags: a.tagSpecs("image")}
	for _, bd := range overlayBlockDevices(in.blockDevices, reqBDs) {
		bd.VolumeID = ""
		if bd.NoDevice || bd.VirtualName != "" {
			im.blockDevices = append(im.blockDevices, bd)
			continue
		}
		s := f.newSnapshot(r, c, bd.VolumeSize, fmt.Sprintf("Created by CreateImage(%s) for %s", in.id, im.id), a.tagSpecs("snapshot"))
		if bd.DeviceName == rootDevice {
			if err := f.runner.Snapshot(in.id, s.id); err != nil {
				delete(r.snapshots, s.id)
				return nil, f.runnerError(fmt.Errorf("snapshotting %s: %w", in.id, err))
			}
			s.hasData = true
		}
		bd.SnapshotID = s.id
		f.hide(r, s.id)
		im.blockDevices = append(im.blockDevices, bd)
	}
	r.images[im.id] = im
	f.hide(r, im.id)
	return &imageIDReply{ImageID: im.id}, nil
}

// copyImage, sent to the destination region: SourceRegion, SourceImageId,
// Name, Description, Encrypted, KmsKeyId (ignored), CopyImageTags,
// TagSpecification (image, snapshot). Snapshots are copied at once; the new
// image reports pending until Delays.ImageAvailable passed.
func (f *Fake) copyImage(c *call) (reply, error) {
	r, a := c.region, c.args
	srcRegionName, srcID := a.Str("SourceRegion"), a.Str("SourceImageId")
	if srcRegionName == "" {
		return nil, errMissing("SourceRegion")
	}
	if srcID == "" {
		return nil, errMissing("SourceImageId")
	}
	srcRegion, aerr := f.region(srcRegionName)
	if aerr != nil {
		return nil, errInvalid("Invalid source region: %s", srcRegionName)
	}
	srcRegion.advance(c.now)
	src, ok := srcRegion.images[srcID]
	if !ok || !f.visible(src) {
		return nil, errNotFound(srcID)
	}
	if src.state != imageAvailable {
		return nil, errf("InvalidAMIID.Unavailable", "Image %s is not in the available state (%s)", srcID, src.state)
	}
	name := a.Str("Name")
	if err := f.checkImageName(r, name); err != nil {
		return nil, err
	}
	if err := validTagSpecTypes(a, "image", "snapshot"); err != nil {
		return nil, err
	}
	desc := src.description
	if a.Has("Description") {
		desc = a.Str("Description")
	}
	tags := map[string]string{}
	if a.Bool("CopyImageTags") {
		tags = copyTags(src.tags)
	}
	for k, v := range a.tagSpecs("image") {
		tags[k] = v
	}
	im := &image{seq: f.nextSeq(), id: f.newID("ami"), name: name, description: desc, ownerID: f.opts.AccountID,
		state: imagePending, created: c.now, sourceImageID: src.id, sourceRegion: srcRegionName,
		next: &transition{to: imageAvailable, at: c.now.Add(f.opts.Delays.ImageAvailable)}, tags: tags}
	for _, bd := range src.blockDevices {
		if bd.SnapshotID == "" {
			im.blockDevices = append(im.blockDevices, bd)
			continue
		}
		srcSnap := srcRegion.snapshots[bd.SnapshotID]
		s := f.newSnapshot(r, c, bd.VolumeSize, fmt.Sprintf("Copied for DestinationAmi %s from SourceAmi %s for SourceSnapshot %s", im.id, src.id, bd.SnapshotID), a.tagSpecs("snapshot"))
		if srcSnap != nil && srcSnap.hasData {
			if err := f.runner.CopySnapshot(srcSnap.id, s.id); err != nil {
				delete(r.snapshots, s.id)
				return nil, f.runnerError(fmt.Errorf("copying %s: %w", srcSnap.id, err))
			}
			s.hasData = true
		}
		bd.SnapshotID = s.id
		bd.Encrypted = bd.Encrypted || a.Bool("Encrypted")
		f.hide(r, s.id)
		im.blockDevices = append(im.blockDevices, bd)
	}
	r.images[im.id] = im
	f.hide(r, im.id)
	return &imageIDReply{ImageID: im.id}, nil
}

// ownedImage returns ImageId if the caller's account owns it.
func (f *Fake) ownedImage(r *region, a args) (*image, *apiError) {
	id := a.Str("ImageId")
	if id == "" {
		return nil, errMissing("ImageId")
	}
	im, ok := r.images[id]
	if !ok || !f.visible(im) {
		return nil, errNotFound(id)
	}
	if im.ownerID != f.opts.AccountID {
		return nil, errf("AuthFailure", "Not authorized for image:%s", id)
	}
	return im, nil
}

// deregisterImage: ImageId, DeleteAssociatedSnapshots. Like EC2, the
// snapshots stay unless asked otherwise.
func (f *Fake) deregisterImage(c *call) (reply, error) {
	r := c.region
	im, aerr := f.ownedImage(r, c.args)
	if aerr != nil {
		return nil, aerr
	}
	delete(r.images, im.id)
	if c.args.Bool("DeleteAssociatedSnapshots") {
		for _, bd := range im.blockDevices {
			if s, ok := r.snapshots[bd.SnapshotID]; ok && !f.snapshotInUse(r, s.id) {
				f.dropSnapshot(r, s)
			}
		}
	}
	return &returnReply{Return: true}, nil
}

var accountIDRE = regexp.MustCompile(`^\d{12}$`)

// modifyImageAttribute: ImageId and LaunchPermission.{Add,Remove}.N.{UserId,
// Group}, or Attribute=launchPermission with OperationType, UserId.N and
// UserGroup.N; Description.Value, or Attribute=description with Value.
func (f *Fake) modifyImageAttribute(c *call) (reply, error) {
	r, a := c.region, c.args
	im, aerr := f.ownedImage(r, a)
	if aerr != nil {
		return nil, aerr
	}
	type perm struct {
		add         bool
		user, group string
	}
	var perms []perm
	for _, p := range a.Structs("LaunchPermission.Add") {
		perms = append(perms, perm{true, p.Str("UserId"), p.Str("Group")})
	}
	for _, p := range a.Structs("LaunchPermission.Remove") {
		perms = append(perms, perm{false, p.Str("UserId"), p.Str("Group")})
	}
	attr := a.Str("Attribute")
	if attr == "launchPermission" {
		op := a.Str("OperationType")
		if op != "add" && op != "remove" {
			return nil, errInvalid("Invalid OperationType '%s'", op)
		}
		for _, u := range a.List("UserId") {
			perms = append(perms, perm{op == "add", u, ""})
		}
		for _, g := range a.List("UserGroup") {
			perms = append(perms, perm{op == "add", "", g})
		}
	}
	desc, setDesc := a.Str("Description.Value"), a.Has("Description.Value")
	if attr == "description" {
		desc, setDesc = a.Str("Value"), true
	}
	if attr != "" && attr != "launchPermission" && attr != "description" {
		return nil, errf("InvalidParameterValue", "The attribute '%s' is not supported by the fake", attr)
	}
	if len(perms) == 0 && !setDesc {
		return nil, errMissing("LaunchPermission or Description")
	}
	for _, p := range perms {
		if p.group != "" && p.group != "all" {
			return nil, errf("InvalidAMIAttributeItemValue", "Invalid attribute item value \"%s\" for group item type.", p.group)
		}
		if p.user != "" && !accountIDRE.MatchString(p.user) {
			return nil, errf("InvalidAMIAttributeItemValue", "Invalid attribute item value \"%s\" for userId item type.", p.user)
		}
	}
	for _, p := range perms {
		if p.group == "all" {
			im.public = p.add
		}
		if p.user == "" {
			continue
		}
		if p.add && !contains(im.launchUsers, p.user) {
			im.launchUsers = append(im.launchUsers, p.user)
		}
		if !p.add {
			kept := im.launchUsers[:0]
			for _, u := range im.launchUsers {
				if u != p.user {
					kept = append(kept, u)
				}
			}
			im.launchUsers = kept
		}
	}
	if setDesc {
		im.description = desc
	}
	return &returnReply{Return: true}, nil
}

// describeImageAttribute: ImageId, Attribute (launchPermission,
// description, blockDeviceMapping).
func (f *Fake) describeImageAttribute(c *call) (reply, error) {
	r, a := c.region, c.args
	im, aerr := f.ownedImage(r, a)
	if aerr != nil {
		return nil, aerr
	}
	out := &describeImageAttributeReply{ImageID: im.id}
	switch a.Str("Attribute") {
	case "launchPermission":
		if im.public {
			out.LaunchPermissions = append(out.LaunchPermissions, launchPermissionXML{Group: "all"})
		}
		for _, u := range im.launchUsers {
			out.LaunchPermissions = append(out.LaunchPermissions, launchPermissionXML{UserID: u})
		}
	case "description":
		out.Description = &valueXML{Value: im.description}
	case "blockDeviceMapping":
		out.BlockDevices = blockDevicesXML(im.blockDevices)
	case "":
		return nil, errMissing("Attribute")
	default:
		return nil, errf("InvalidParameterValue", "The attribute '%s' is not supported by the fake", a.Str("Attribute"))
	}
	return out, nil
}
