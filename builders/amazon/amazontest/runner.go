package amazontest

import "golang.org/x/crypto/ssh"

// Runner gives the fake's instances a body. The Fake calls it with its
// lock held, so calls never overlap. Snapshot ids are unique across
// regions.
type Runner interface {
	// SeedSnapshot fills snapshot id with the stock root filesystem of the
	// public source image.
	SeedSnapshot(id string) error
	// Start boots instance id. On first boot its root filesystem is restored
	// from snapshot rootSnapshotID ("" means an empty disk); after a Stop the
	// kept root filesystem boots again. authorizedKey (an authorized_keys
	// line, or nil) may log in as root.
	Start(instanceID, rootSnapshotID string, authorizedKey []byte) (Endpoint, error)
	// Stop stops the instance and keeps its root filesystem.
	Stop(instanceID string) error
	// Destroy stops the instance and removes its root filesystem.
	Destroy(instanceID string) error
	// Snapshot copies the instance's root filesystem into new snapshot id.
	Snapshot(instanceID, snapshotID string) error
	// CopySnapshot copies snapshot src into new snapshot dst.
	CopySnapshot(src, dst string) error
	// DeleteSnapshot removes a snapshot's contents.
	DeleteSnapshot(id string) error
	// Close stops every instance and removes everything the Runner stored.
	Close() error
}

// Endpoint is where a started instance accepts SSH.
type Endpoint struct {
	// Port on 127.0.0.1; 0 when the instance runs nothing.
	Port int
	// HostKey of the instance's sshd, or nil.
	HostKey ssh.PublicKey
}

// NopRunner runs nothing: instances have no SSH endpoint and snapshots no
// contents. It is the Runner for API-only tests.
type NopRunner struct{}

func (NopRunner) SeedSnapshot(string) error                      { return nil }
func (NopRunner) Start(string, string, []byte) (Endpoint, error) { return Endpoint{}, nil }
func (NopRunner) Stop(string) error                              { return nil }
func (NopRunner) Destroy(string) error                           { return nil }
func (NopRunner) Snapshot(string, string) error                  { return nil }
func (NopRunner) CopySnapshot(string, string) error              { return nil }
func (NopRunner) DeleteSnapshot(string) error                    { return nil }
func (NopRunner) Close() error                                   { return nil }
