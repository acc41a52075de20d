package amazontest

import (
	"errors"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"
)

// mutatingPrefixes are the action-name prefixes MutatingCalls counts.
var mutatingPrefixes = []string{"Create", "Run", "Start", "Stop", "Terminate", "Deregister",
	"Delete", "Copy", "Modify", "Authorize", "Revoke", "Import", "Register"}

// IsMutating reports whether an action changes state (Create*, Run*,
// Stop*, Terminate*, Deregister*, Delete*, Copy*, Modify*, Authorize*,
// Import*, and Start*, Revoke*, Register*).
func IsMutating(action string) bool {
	for _, p := range mutatingPrefixes {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	return false
}

// Calls returns how many times each action was called (throttled attempts
// excluded, unimplemented actions included).
func (f *Fake) Calls() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.calls))
	for k, v := range f.calls {
		out[k] = v
	}
	return out
}

// MutatingCalls is the number of calls to mutating actions (see
// IsMutating), throttled attempts excluded.
func (f *Fake) MutatingCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for a, c := range f.calls {
		if IsMutating(a) {
			n += c
		}
	}
	return n
}

// Throttled is the number of calls answered RequestLimitExceeded.
func (f *Fake) Throttled() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.throttled
}

// Unimplemented lists the unimplemented actions that were called, in
// order.
func (f *Fake) Unimplemented() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.unimplemented...)
}

// RunnerErr joins every error the Runner returned so far.
func (f *Fake) RunnerErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return errors.Join(f.runnerErrs...)
}

// Leftovers lists, as "region/id", every live resource the caller's
// account owns: instances not terminated, key pairs, security groups other
// than the default ones, images and snapshots. With a tagKey, only the
// resources carrying that tag (with that value, unless value is "") count.
// An empty result after a build means nothing leaked.
func (f *Fake) Leftovers(tagKey, value string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := timeNow()
	var out []string
	match := func(tags map[string]string) bool {
		if tagKey == "" {
			return true
		}
		v, ok := tags[tagKey]
		return ok && (value == "" || v == value)
	}
	for name, r := range f.regions {
		r.advance(now)
		add := func(id string, tags map[string]string) {
			if match(tags) {
				out = append(out, name+"/"+id)
			}
		}
		for _, in := range r.instances {
			if in.state != stateTerminated {
				add(in.id, in.tags)
			}
		}
		for _, k := range r.keyPairs {
			add(k.id, k.tags)
		}
		for _, g := range r.groups {
			if !g.isDefault {
				add(g.id, g.tags)
			}
		}
		for _, im := range r.images {
			if im.ownerID == f.opts.AccountID {
				add(im.id, im.tags)
			}
		}
		for _, s := range r.snapshots {
			if s.ownerID == f.opts.AccountID {
				add(s.id, s.tags)
			}
		}
	}
	sort.Strings(out)
	return out
}

// InstanceInfo is what the fake knows about an instance, for assertions.
type InstanceInfo struct {
	Region, ID, ReservationID string
	ImageID, InstanceType     string
	KeyName, SubnetID, VpcID  string
	SecurityGroupIDs          []string
	State                     string
	// UserData is the decoded user data.
	UserData            []byte
	ShutdownBehavior    string
	BlockDeviceMappings []BlockDevice
	Tags                map[string]string
	// SSHPort is the port of the instance's sshd on 127.0.0.1 while it
	// runs (0 with NopRunner or when stopped).
	SSHPort int
	// HostKey is the sshd host key (nil with NopRunner).
	HostKey ssh.PublicKey
}

// ImageInfo is what the fake knows about an image, for assertions.
type ImageInfo struct {
	Region, ID, Name, Description string
	OwnerID, State                string
	Public                        bool
	LaunchUserIDs                 []string
	SnapshotIDs                   []string
	BlockDeviceMappings           []BlockDevice
	Tags                          map[string]string
	SourceInstanceID              string
	SourceImageID, SourceRegion   string
}

// Instance returns the instance id in any region.
func (f *Fake) Instance(id string) (InstanceInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.regions {
		r.advance(timeNow())
		if in, ok := r.instances[id]; ok {
			return InstanceInfo{Region: r.name, ID: in.id, ReservationID: in.reservationID,
				ImageID: in.imageID, InstanceType: in.instanceType, KeyName: in.keyName,
				SubnetID: in.subnetID, VpcID: in.vpcID, SecurityGroupIDs: append([]string(nil), in.groupIDs...),
				State: in.state, UserData: append([]byte(nil), in.userData...), ShutdownBehavior: in.shutdownBehavior,
				BlockDeviceMappings: append([]BlockDevice(nil), in.blockDevices...), Tags: copyTags(in.tags),
				SSHPort: in.sshPort, HostKey: in.hostKey}, true
		}
	}
	return InstanceInfo{}, false
}

// Image returns the image id in any region.
func (f *Fake) Image(id string) (ImageInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.regions {
		r.advance(timeNow())
		if im, ok := r.images[id]; ok {
			info := ImageInfo{Region: r.name, ID: im.id, Name: im.name, Description: im.description,
				OwnerID: im.ownerID, State: im.state, Public: im.public,
				LaunchUserIDs:       append([]string(nil), im.launchUsers...),
				BlockDeviceMappings: append([]BlockDevice(nil), im.blockDevices...), Tags: copyTags(im.tags),
				SourceInstanceID: im.sourceInstanceID, SourceImageID: im.sourceImageID, SourceRegion: im.sourceRegion}
			for _, bd := range im.blockDevices {
				if bd.SnapshotID != "" {
					info.SnapshotIDs = append(info.SnapshotIDs, bd.SnapshotID)
				}
			}
			return info, true
		}
	}
	return ImageInfo{}, false
}

// SSHPort is the loopback port of the running instance's sshd, or 0. EC2
// would use port 22; the fake also publishes the port as the instance tag
// SSHPortTag.
func (f *Fake) SSHPort(instanceID string) int {
	info, _ := f.Instance(instanceID)
	return info.SSHPort
}

// SourceImageID is the id of the public source image in region (creating
// the region's state if needed), or "" for a region the fake does not
// serve.
func (f *Fake) SourceImageID(regionName string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.region(regionName)
	if err != nil {
		return ""
	}
	for _, im := range r.images {
		if im.name == SourceImageName && im.ownerID == SourceImageOwner {
			return im.id
		}
	}
	return ""
}
