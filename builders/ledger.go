package builders

import "context"

// Resource is a temporary cloud resource a build creates: a key pair, a
// security group, an instance, an intermediate image.
type Resource struct {
	// Builder is the builder type that created it ("amazon-ebs").
	Builder string `json:"builder"`
	// Region is where it lives, if the platform has regions.
	Region string `json:"region,omitempty"`
	// Kind says what it is ("instance", "key-pair", "security-group",
	// "image", "snapshot").
	Kind string `json:"kind"`
	// ID identifies it on the platform. A resource recorded before its
	// creation call may have only a Name until the call returns.
	ID string `json:"id,omitempty"`
	// Name is the name pipe gave it, when the platform names things.
	Name string `json:"name,omitempty"`
	// Node is the node that created it.
	Node string `json:"node,omitempty"`
	// Run is the run that created it, when known (from its pipe:run tag).
	Run string `json:"run,omitempty"`
}

// Ledger records temporary resources so that `pipe cleanup` can delete
// what a killed run left behind. A builder calls Record before the call
// that creates a resource (with the name it will have) and again when the
// call returns its id, and Forget once the resource is deleted or has
// become a kept artifact.
type Ledger interface {
	Record(r Resource) error
	Forget(r Resource) error
}

// Cleaner is implemented by builders that create temporary resources. Clean
// deletes the given resources of a run that is no longer alive (ignoring
// ones already gone); with dryRun it only reports what it would delete.
// Sweep looks for resources tagged as temporary, using a builder entry's
// config (its region and credentials), and deletes those keep refuses:
// keep holds for resources of live runs and for images a cache record
// references.
type Cleaner interface {
	Clean(ctx context.Context, rs []Resource, dryRun bool) ([]Resource, error)
	Sweep(ctx context.Context, config any, keep func(Resource) bool, dryRun bool) ([]Resource, error)
}

// NopLedger records nothing: for builders and tests that have no store.
type NopLedger struct{}

// Record implements Ledger.
func (NopLedger) Record(Resource) error { return nil }

// Forget implements Ledger.
func (NopLedger) Forget(Resource) error { return nil }

// Pruner is implemented by builders whose artifacts live outside the store
// (cloud images). Prune deletes an artifact that no cache record
// references any more; with dryRun it only reports whether it still
// exists. It is never asked to delete an artifact a kept record names.
type Pruner interface {
	Prune(ctx context.Context, a *Artifact, dryRun bool) (bool, error)
}
