package amazontest

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Instance states with their EC2 codes.
const (
	statePending      = "pending"
	stateRunning      = "running"
	stateShuttingDown = "shutting-down"
	stateTerminated   = "terminated"
	stateStopping     = "stopping"
	stateStopped      = "stopped"
)

var stateCodes = map[string]int{
	statePending: 0, stateRunning: 16, stateShuttingDown: 32,
	stateTerminated: 48, stateStopping: 64, stateStopped: 80,
}

// Image and snapshot states.
const (
	imagePending     = "pending"
	imageAvailable   = "available"
	snapshotPending  = "pending"
	snapshotComplete = "completed"
)

// timeNow is the fake's clock.
var timeNow = time.Now

// transition is a state change due at a time.
type transition struct {
	to string
	at time.Time
}

// region is the state of one region.
type region struct {
	name      string
	vpc       *vpc
	subnet    *subnet
	groups    map[string]*securityGroup // by id
	keyPairs  map[string]*keyPair       // by name
	instances map[string]*instance
	images    map[string]*image
	snapshots map[string]*snapshot
	// hidden counts, per new resource id, the Describe calls that must still
	// not see it (Options.EventualConsistency).
	hidden map[string]int
}

type vpc struct {
	id, cidr string
	tags     map[string]string
}

type subnet struct {
	id, vpcID, cidr, az string
	tags                map[string]string
}

type ipPermission struct {
	protocol         string
	fromPort, toPort int
	cidrs            []string
}

type securityGroup struct {
	seq                   int64
	id, name, description string
	vpcID                 string
	ingress               []ipPermission
	tags                  map[string]string
	isDefault             bool
}

type keyPair struct {
	seq               int64
	id, name, keyType string
	fingerprint       string
	publicKey         []byte // authorized_keys line
	created           time.Time
	tags              map[string]string
}

// BlockDevice is one block device mapping as sent to RunInstances or
// CreateImage, or as recorded on an image.
type BlockDevice struct {
	DeviceName          string
	VirtualName         string
	NoDevice            bool
	SnapshotID          string
	VolumeSize          int
	VolumeType          string
	Iops                int
	DeleteOnTermination bool
	Encrypted           bool
	// VolumeID is set on an instance's mappings.
	VolumeID string
}

type instance struct {
	seq                            int64
	id, reservationID              string
	imageID, instanceType, keyName string
	subnetID, vpcID                string
	groupIDs                       []string
	userData                       []byte
	shutdownBehavior               string
	blockDevices                   []BlockDevice
	rootSnapshotID                 string
	launchIndex                    int
	launched                       time.Time
	state                          string
	next                           *transition
	stateReason                    string
	tags                           map[string]string
	sshPort                        int
	hostKey                        ssh.PublicKey
	authorizedKey                  []byte
	volumeTags                     map[string]string
}

type image struct {
	seq                            int64
	id, name, description, ownerID string
	public                         bool
	launchUsers                    []string
	state                          string
	next                           *transition
	created                        time.Time
	sourceInstanceID               string
	sourceImageID, sourceRegion    string
	blockDevices                   []BlockDevice
	tags                           map[string]string
}

type snapshot struct {
	seq          int64
	id, volumeID string
	ownerID      string
	description  string
	size         int
	// hasData is set when the Runner holds the snapshot's contents (root
	// volumes); other snapshots are records only.
	hasData bool
	state   string
	next    *transition
	started time.Time
	tags    map[string]string
}

// advance applies every transition that is due at now.
func (r *region) advance(now time.Time) {
	for _, in := range r.instances {
		for in.next != nil && !now.Before(in.next.at) {
			in.state, in.next = in.next.to, nil
		}
	}
	for _, im := range r.images {
		if im.next != nil && !now.Before(im.next.at) {
			im.state, im.next = im.next.to, nil
		}
	}
	for _, s := range r.snapshots {
		if s.next != nil && !now.Before(s.next.at) {
			s.state, s.next = s.next.to, nil
		}
	}
}

// seen reports whether a Describe call may show the resource id, counting
// the call against its eventual-consistency budget.
func (r *region) seen(id string) bool {
	if n := r.hidden[id]; n > 0 {
		r.hidden[id] = n - 1
		return false
	}
	return true
}

// tagsOf returns the tag map of any taggable resource in the region.
func (r *region) tagsOf(id string) (map[string]string, bool) {
	switch idPrefix(id) {
	case "i":
		if in, ok := r.instances[id]; ok {
			return in.tags, true
		}
	case "ami":
		if im, ok := r.images[id]; ok {
			return im.tags, true
		}
	case "snap":
		if s, ok := r.snapshots[id]; ok {
			return s.tags, true
		}
	case "sg":
		if g, ok := r.groups[id]; ok {
			return g.tags, true
		}
	case "key":
		for _, k := range r.keyPairs {
			if k.id == id {
				return k.tags, true
			}
		}
	case "vpc":
		if r.vpc.id == id {
			return r.vpc.tags, true
		}
	case "subnet":
		if r.subnet.id == id {
			return r.subnet.tags, true
		}
	}
	return nil, false
}

// idPrefix is the part of a resource id before its dash ("ami", "i", …).
func idPrefix(id string) string {
	p, _, _ := strings.Cut(id, "-")
	return p
}

// sortedBySeq returns the map's values ordered by creation.
func sortedBySeq[T any](m map[string]T, seq func(T) int64) []T {
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return seq(out[i]) < seq(out[j]) })
	return out
}

func copyTags(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// validTagSpecTypes checks TagSpecification resource types against the ones
// an action accepts.
func validTagSpecTypes(a args, allowed ...string) *apiError {
	for _, t := range a.tagSpecTypes() {
		ok := false
		for _, want := range allowed {
			ok = ok || t == want
		}
		if !ok {
			return errInvalid("'%s' is not a valid taggable resource type for this operation.", t)
		}
	}
	return nil
}

func (r *region) String() string { return fmt.Sprintf("region(%s)", r.name) }
