package amazon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/stages"
)

// Tags pipe puts on what it creates.
const (
	tagRun       = "pipe:run"
	tagNode      = "pipe:node"
	tagPipeline  = "pipe:pipeline"
	tagTemporary = "pipe:temporary"
	tagCurrent   = "pipe:current"
	tagName      = "Name"
)

// Machine is a running build instance reached over SSH.
type Machine struct {
	*build
}

var _ builders.Machine = (*Machine)(nil)

// build is the state of one node's build: what its steps created so far,
// which their undos read.
type build struct {
	b      *Builder
	spec   *builders.Spec
	cfg    *Config
	ec2    ec2API
	undo   *builders.Undo
	w      *waiter
	name   string // name of every temporary resource
	source *types.Image

	signer     ssh.Signer
	keyName    string
	sgIDs      []string
	subnetID   string
	instanceID string
	instance   *types.Instance
	comm       stages.Communicator

	mu     sync.Mutex
	images map[string]*builtImage // region → AMI built or copied
	keep   bool                   // set once Capture succeeds: AMIs survive undo
}

// builtImage is an AMI of this build in one region.
type builtImage struct {
	region    string
	name      string
	id        string
	snapshots []string
}

// Launch implements builders.Builder: key pair, security group, instance,
// wait until running, SSH. Each step pushes its undo before it creates
// anything.
func (b *Builder) Launch(ctx context.Context, spec *builders.Spec, undo *builders.Undo) (builders.Machine, error) {
	c := spec.Config.(*Config)
	cl, err := b.client(ctx, c.Region)
	if err != nil {
		return nil, err
	}
	bd := &build{b: b, spec: spec, cfg: c, ec2: cl, undo: undo, w: newWaiter(c.scale()),
		name: tempName(spec), images: map[string]*builtImage{}}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"source ami", bd.sourceAMI},
		{"key pair", bd.keyPair},
		{"network", bd.network},
		{"security group", bd.securityGroup},
		{"instance", bd.runInstance},
		{"wait running", bd.waitRunning},
		{"ssh", bd.connect},
		{"lifetime guard", bd.guard},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return nil, err // each step names what failed
		}
	}
	return &Machine{bd}, nil
}

// Communicator implements builders.Machine.
func (m *Machine) Communicator() stages.Communicator { return m.comm }

// Capture implements builders.Machine: stop the instance, create the AMI,
// wait until it is available and copy it to ami_regions. The AMIs are
// deregistered by the undo stack unless Capture succeeds.
func (m *Machine) Capture(ctx context.Context) (*builders.Artifact, error) {
	if err := m.stopInstance(ctx); err != nil {
		return nil, err
	}
	if err := m.createImage(ctx); err != nil {
		return nil, err
	}
	if err := m.copyImages(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.keep = true
	m.mu.Unlock()
	return m.artifact(), nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// tempName names a node's temporary resources: the run id, the node and a
// random suffix, so that two builds of one node never collide.
func tempName(spec *builders.Spec) string {
	r := make([]byte, 3)
	_, _ = rand.Read(r)
	return fmt.Sprintf("pipe-%s-%s-%s", spec.RunID, unsafeName.ReplaceAllString(spec.Node, "-"), hex.EncodeToString(r))
}

// resource is a ledger entry of this build.
func (bd *build) resource(region, kind, name, id string) builders.Resource {
	return builders.Resource{Builder: Type, Region: region, Kind: kind, Name: name, ID: id, Node: bd.spec.Node}
}

// record writes r to the run's ledger.
func (bd *build) record(r builders.Resource) error {
	if err := bd.spec.Ledger.Record(r); err != nil {
		return fmt.Errorf("ledger: record %s %s: %w", r.Kind, r.Name, err)
	}
	return nil
}

// forget removes r from the run's ledger; a failure only leaves an entry
// that cleanup will find already gone.
func (bd *build) forget(r builders.Resource) {
	if err := bd.spec.Ledger.Forget(r); err != nil {
		logf(bd.spec.Log, "warning: ledger: forget %s %s: %v", r.Kind, r.Name, err)
	}
}

// tags are the tags of every temporary resource, plus extra.
func (bd *build) tags(extra map[string]string) []types.Tag {
	t := []types.Tag{
		{Key: aws.String(tagName), Value: aws.String(bd.name)},
		{Key: aws.String(tagRun), Value: aws.String(bd.spec.RunID)},
		{Key: aws.String(tagNode), Value: aws.String(bd.spec.Node)},
		{Key: aws.String(tagPipeline), Value: aws.String(bd.spec.Pipeline)},
		{Key: aws.String(tagTemporary), Value: aws.String("true")},
	}
	for _, f := range filters(extra) {
		t = append(t, types.Tag{Key: f.Name, Value: aws.String(f.Values[0])})
	}
	return t
}

// tagSpecs tags each resource type with tags.
func tagSpecs(tags []types.Tag, rts ...types.ResourceType) []types.TagSpecification {
	var out []types.TagSpecification
	for _, rt := range rts {
		out = append(out, types.TagSpecification{ResourceType: rt, Tags: tags})
	}
	return out
}
