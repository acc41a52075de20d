// Package builders defines where a stage runs: the contract between the
// scheduler and a platform (local overlayfs, AWS, GCE, the host itself).
//
// A builder never sees the graph. The scheduler resolves a node's
// configuration, asks the builder for the node's key lines (Key), and on a
// cache miss launches a Machine on the upstream artifact, hands its
// Communicator to the provisioners and captures the result. Every step that
// creates something registers its undo on the Undo stack before the next step
// runs.
package builders

import (
	"context"
	"io"

	"github.com/pipebuild/pipe/pipeline/cache"
	"github.com/pipebuild/pipe/stages"
)

// Builder is one builder type ("local", "amazon-ebs", "null").
//
// NewConfig and NewSource return pointers to the builder's own config
// structs; the schema decodes YAML into them strictly, so their yaml tags and
// doc comments are the user-facing contract (and the JSON Schema).
type Builder interface {
	// Type is the name used in the pipeline file's `type:` field.
	Type() string
	// NewConfig returns a pointer to a zero config struct for a builder entry.
	NewConfig() any
	// NewSource returns a pointer to a zero source struct (the `source:` of a
	// builder or of a root stage), or nil if the builder has no sources.
	NewSource() any
	// Prepare validates a node's resolved spec with no side effects.
	Prepare(spec *Spec) error
	// Key writes the lines that determine the content of the node's image:
	// resolved config fields that change the result and the source. Fields
	// that only name, tag, publish or time the result stay out.
	Key(spec *Spec, k *cache.Key) error
	// Launch starts a machine for the node: on spec.Upstream's artifact, or
	// on spec.Source for a root node.
	Launch(ctx context.Context, spec *Spec, undo *Undo) (Machine, error)
}

// Machine is a running build machine.
type Machine interface {
	// Communicator is how provisioners reach the machine.
	Communicator() stages.Communicator
	// Capture turns the machine's state into an artifact.
	Capture(ctx context.Context) (*Artifact, error)
}

// HostDirMachine is implemented by machines that are a directory on the host
// (the null builder's work tree). The scheduler passes HostDir to
// provisioners as stages.Env.HostDir, where shell-local runs.
type HostDirMachine interface {
	Machine
	HostDir() string
}

// Exister is implemented by builders whose artifacts can disappear outside
// pipe (cloud images, pruned directories). A cache hit is trusted only when
// Exists reports true.
type Exister interface {
	Exists(ctx context.Context, spec *Spec, a *Artifact) (bool, error)
}

// OutputBuilder is implemented by builders that publish images to places
// named in a stage's `outputs:` (a registry, an OCI layout). NewOutput
// returns a pointer to a zero output struct, decoded strictly.
type OutputBuilder interface {
	NewOutput() any
}

// Publisher is implemented by builders with fields kept out of the key
// (names, tags, sharing, outputs). Publish applies them to a built or reused
// artifact and must be idempotent.
type Publisher interface {
	Publish(ctx context.Context, spec *Spec, a *Artifact) error
}

// Spec is everything a builder is told about one node.
type Spec struct {
	// Node is the node's name, "stage@builder".
	Node string
	// Pipeline is the pipeline's name.
	Pipeline string
	// Dir is the directory of the pipeline file; relative paths resolve here.
	Dir string
	// Config is the builder's resolved config (the value NewConfig returned).
	Config any
	// Source is the resolved source for a root node (stage-level source
	// overrides the builder's), nil for a node with an upstream.
	Source any
	// Root reports that the node has no upstream stage and starts from
	// Source.
	Root bool
	// Upstream is the artifact of the node's upstream node: nil for a root,
	// and also nil while a plan resolves a node whose upstream is not
	// built yet.
	Upstream *Artifact
	// Image is the stage's image config (`image:`), possibly nil.
	Image any
	// Outputs are the stage's resolved outputs: values NewOutput returned,
	// for a builder that implements OutputBuilder.
	Outputs []any
	// WorkDir is a private, empty, per-node directory in the cache store that
	// the builder may use for the duration of the build.
	WorkDir string
	// StoreDir is the cache store's root, for builders that keep data
	// (layers, work trees) beside the records.
	StoreDir string
	// ActionID is the node's cache key.
	ActionID string
	// RunID identifies this run of pipe; builders tag temporary cloud
	// resources with it (pipe:run).
	RunID string
	// Ledger records temporary resources before they are created; never
	// nil during Launch and Capture.
	Ledger Ledger
	// Log receives progress lines (already masked for secrets).
	Log io.Writer
}

// Artifact is what a node produced. It is stored in cache records, so every
// field must be plain data.
type Artifact struct {
	// Builder is the builder type that produced it.
	Builder string `json:"builder"`
	// ID is the artifact's human-readable identity ("sha256:…", "us-east-1:ami-…").
	ID string `json:"id"`
	// OutputID is the digest of what was built. Downstream keys use it, so a
	// bit-identical rebuild does not rebuild descendants.
	OutputID string `json:"output_id"`
	// Data holds builder-specific values (paths, per-region ids).
	Data map[string]string `json:"data,omitempty"`
}
