package amazontest

import (
	"fmt"
	"strconv"
)

var snapshotFilters = (&snapshot{}).filterFields()

func (s *snapshot) filterFields() map[string][]string {
	return map[string][]string{
		"snapshot-id": one(s.id), "status": one(s.state), "owner-id": one(s.ownerID), "volume-id": one(s.volumeID),
		"description": one(s.description), "volume-size": one(strconv.Itoa(s.size)), "encrypted": one("false"),
		"start-time": one(ec2Time(s.started)), "storage-tier": one("standard"),
	}
}

// describeSnapshots: SnapshotId.N, Owner.N ("self" or account ids),
// Filter. Without SnapshotId or Owner it lists the account's own
// snapshots.
func (f *Fake) describeSnapshots(c *call) (reply, error) {
	r, a := c.region, c.args
	fs := parseFilters(a)
	if err := checkFilters(fs, snapshotFilters); err != nil {
		return nil, err
	}
	ids := a.List("SnapshotId")
	for _, id := range ids {
		if _, ok := r.snapshots[id]; !ok || !r.seen(id) {
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
	if len(ids) == 0 && len(owners) == 0 {
		owners = []string{f.opts.AccountID}
	}
	out := &describeSnapshotsReply{}
	for _, s := range sortedBySeq(r.snapshots, func(s *snapshot) int64 { return s.seq }) {
		if len(ids) > 0 && !contains(ids, s.id) || len(owners) > 0 && !contains(owners, s.ownerID) {
			continue
		}
		if !matchFilters(fs, fields(s.filterFields()), s.tags) {
			continue
		}
		if len(ids) == 0 && !r.seen(s.id) {
			continue
		}
		progress := "100%"
		if s.state == snapshotPending {
			progress = "50%"
		}
		out.Snapshots = append(out.Snapshots, snapshotXML{SnapshotID: s.id, VolumeID: s.volumeID, Status: s.state,
			StartTime: ec2Time(s.started), Progress: progress, OwnerID: s.ownerID, VolumeSize: s.size,
			Description: s.description, StorageTier: "standard", Tags: tagsXML(s.tags)})
	}
	return out, nil
}

// snapshotInUse names the registered image using snapshot id, if any.
func (f *Fake) snapshotInUse(r *region, id string) bool { return f.snapshotUser(r, id) != "" }

func (f *Fake) snapshotUser(r *region, id string) string {
	for _, im := range r.images {
		for _, bd := range im.blockDevices {
			if bd.SnapshotID == id {
				return im.id
			}
		}
	}
	return ""
}

// dropSnapshot forgets s and has the Runner delete its contents.
func (f *Fake) dropSnapshot(r *region, s *snapshot) {
	delete(r.snapshots, s.id)
	if s.hasData {
		if err := f.runner.DeleteSnapshot(s.id); err != nil {
			_ = f.runnerError(fmt.Errorf("deleting %s: %w", s.id, err))
		}
	}
}

// deleteSnapshot: SnapshotId. Refuses a snapshot a registered image uses
// (InvalidSnapshot.InUse), as EC2 does.
func (f *Fake) deleteSnapshot(c *call) (reply, error) {
	r := c.region
	id := c.args.Str("SnapshotId")
	if id == "" {
		return nil, errMissing("SnapshotId")
	}
	s, ok := r.snapshots[id]
	if !ok {
		return nil, errNotFound(id)
	}
	if s.ownerID != f.opts.AccountID {
		return nil, errf("AuthFailure", "Not authorized for snapshot:%s", id)
	}
	if user := f.snapshotUser(r, id); user != "" {
		return nil, errf("InvalidSnapshot.InUse", "The snapshot %s is currently in use by %s", id, user)
	}
	f.dropSnapshot(r, s)
	return &returnReply{Return: true}, nil
}
