package amazon

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/builders/ssh"
	"github.com/pipebuild/pipe/pipeline/cache"
)

func validConfig() *Config {
	return &Config{Region: "us-east-1", InstanceType: "t3.small", AMIName: "golden", SSHUsername: "admin",
		TemporarySecurityGroupSourceCIDRs: []string{"203.0.113.7/32"}}
}

func TestPrepare(t *testing.T) {
	tests := []struct {
		name string
		mod  func(c *Config, s *Source)
		want string // substring of the error, "" for none
	}{
		{"valid", func(*Config, *Source) {}, ""},
		{"bad region", func(c *Config, _ *Source) { c.Region = "mars" }, `region "mars"`},
		{"no ami_name", func(c *Config, _ *Source) { c.AMIName = "" }, "ami_name is required"},
		{"no cidrs", func(c *Config, _ *Source) { c.TemporarySecurityGroupSourceCIDRs = nil }, "temporary_security_group_source_cidrs is required"},
		{"private needs no cidrs", func(c *Config, _ *Source) { c.TemporarySecurityGroupSourceCIDRs, c.SSHInterface = nil, "private_ip" }, ""},
		{"existing sg needs no cidrs", func(c *Config, _ *Source) { c.TemporarySecurityGroupSourceCIDRs, c.SecurityGroupID = nil, "sg-1" }, ""},
		{"bad cidr", func(c *Config, _ *Source) { c.TemporarySecurityGroupSourceCIDRs = []string{"10.0.0.0"} }, "temporary_security_group_source_cidrs"},
		{"bad interface", func(c *Config, _ *Source) { c.SSHInterface = "ipv6" }, "ssh_interface"},
		{"key without file", func(c *Config, _ *Source) { c.SSHKeypairName = "k" }, "go together"},
		{"no source", func(_ *Config, s *Source) { s.AMI = "" }, "exactly one of ami or ami_filter"},
		{"both sources", func(_ *Config, s *Source) { s.AMIFilter = &AMIFilter{Name: "x", Owners: []string{"self"}} }, "exactly one"},
		{"filter without owners", func(_ *Config, s *Source) { s.AMI, s.AMIFilter = "", &AMIFilter{Name: "x"} }, "needs owners"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := validConfig(), &Source{AMI: "ami-1"}
			tt.mod(c, s)
			err := New().Prepare(&builders.Spec{Config: c, Source: s, Root: true})
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Prepare = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPollDelay(t *testing.T) {
	for _, tt := range []struct {
		waited time.Duration
		scale  float64
		want   time.Duration
	}{
		{0, 1, time.Second},
		{30 * time.Second, 1, 3 * time.Second},
		{10 * time.Minute, 1, 15 * time.Second},
		{0, 0.1, 100 * time.Millisecond},
		{3 * time.Second, 0.1, 300 * time.Millisecond},   // 30 s at scale 1, scaled
		{30 * time.Second, 0.1, 1500 * time.Millisecond}, // maxDelay, scaled
	} {
		if got := pollDelay(tt.waited, tt.scale); got != tt.want {
			t.Errorf("pollDelay(%s, %g) = %s, want %s", tt.waited, tt.scale, got, tt.want)
		}
	}
}

// fakeClock makes a waiter's sleeps instant.
func fakeClock(w *waiter) *[]time.Duration {
	now := time.Unix(0, 0)
	var sleeps []time.Duration
	w.now = func() time.Time { return now }
	w.sleep = func(_ context.Context, d time.Duration) error {
		sleeps = append(sleeps, d)
		now = now.Add(d)
		return nil
	}
	return &sleeps
}

func TestWait(t *testing.T) {
	notFound := &smithy.GenericAPIError{Code: "InvalidInstanceID.NotFound"}
	throttled := &smithy.GenericAPIError{Code: "RequestLimitExceeded"}
	t.Run("tolerates NotFound and throttling", func(t *testing.T) {
		w := newWaiter(1)
		fakeClock(w)
		errs := []error{notFound, throttled, nil, nil}
		n := 0
		err := w.wait(context.Background(), "x", time.Hour, func(context.Context) (bool, error) {
			n++
			return n == len(errs), errs[n-1]
		})
		if err != nil || n != 4 {
			t.Fatalf("wait = %v after %d polls", err, n)
		}
	})
	t.Run("timeout names last error", func(t *testing.T) {
		w := newWaiter(1)
		sleeps := fakeClock(w)
		err := w.wait(context.Background(), "AMI ami-1", time.Minute, func(context.Context) (bool, error) { return false, throttled })
		if err == nil || !strings.Contains(err.Error(), "timed out after 1m0s") || !strings.Contains(err.Error(), "RequestLimitExceeded") {
			t.Fatalf("wait = %v", err)
		}
		if len(*sleeps) > 40 {
			t.Errorf("%d polls in a minute, want far fewer than fixed 1-s polling", len(*sleeps))
		}
	})
	t.Run("stop is final", func(t *testing.T) {
		w := newWaiter(1)
		fakeClock(w)
		n := 0
		err := w.wait(context.Background(), "x", time.Hour, func(context.Context) (bool, error) { n++; return false, stop(errors.New("terminated")) })
		if err == nil || n != 1 {
			t.Fatalf("wait = %v after %d polls", err, n)
		}
	})
}

// memLedger is a ledger in memory, keyed like the pipeline's.
type memLedger struct {
	mu      sync.Mutex
	open    map[string]builders.Resource
	records int
}

func (l *memLedger) key(r builders.Resource) string {
	return r.Region + "/" + r.Kind + "/" + firstOf(r.Name, r.ID)
}
func (l *memLedger) Record(r builders.Resource) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open[l.key(r)] = r
	l.records++
	return nil
}
func (l *memLedger) Forget(r builders.Resource) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.open, l.key(r))
	return nil
}

// testBuilder is a builder on f whose SSH is faked.
func testBuilder(t *testing.T, f *fakeEC2) *Builder {
	b := New()
	b.clients.newClient = func(context.Context, string) (ec2API, error) { return f, nil }
	old := dialSSH
	dialSSH = func(context.Context, ssh.Config) (sshClient, error) { return fakeSSH{&fakeComm{}}, nil }
	t.Cleanup(func() { dialSSH = old })
	return b
}

func testSpec(l builders.Ledger) *builders.Spec {
	c := validConfig()
	c.Tags = map[string]string{"team": "platform"}
	c.SnapshotTags = map[string]string{"team": "platform"}
	c.AMIDescription = "golden base"
	return &builders.Spec{Node: "base@aws", Pipeline: "golden", Config: c, Root: true,
		Source:   &Source{AMIFilter: &AMIFilter{Name: "debian-12*", Owners: []string{"self"}}},
		ActionID: "0123456789abcdef", RunID: "run1", Ledger: l, Log: io.Discard}
}

// build runs Launch and Capture like the scheduler: undos always run.
func runBuild(ctx context.Context, b *Builder, spec *builders.Spec) (a *builders.Artifact, err error) {
	undo := &builders.Undo{}
	defer func() { err = errors.Join(err, undo.Run(ctx)) }()
	m, err := b.Launch(ctx, spec, undo)
	if err != nil {
		return nil, err
	}
	return m.Capture(ctx)
}

func TestBuild(t *testing.T) {
	f := newFakeEC2()
	b := testBuilder(t, f)
	l := &memLedger{open: map[string]builders.Resource{}}
	spec := testSpec(l)
	k := cache.NewKey(nil, nil)
	if err := b.Key(spec, k); err != nil {
		t.Fatal(err)
	}
	if got := spec.Source.(*Source).AMI; got != "ami-source" {
		t.Fatalf("Key pinned %q, want ami-source", got)
	}
	a, err := runBuild(context.Background(), b, spec)
	if err != nil {
		t.Fatal(err)
	}
	ami := a.Data["ami.us-east-1"]
	if a.OutputID != ami || a.ID != "us-east-1:"+ami || a.Data["snapshots.us-east-1"] == "" {
		t.Errorf("artifact = %+v", a)
	}
	if got := tagValue(f.images[ami].Tags, tagTemporary); got != "true" {
		t.Errorf("before Publish, %s = %q, want true", tagTemporary, got)
	}
	if ok, err := b.Exists(context.Background(), spec, a); !ok || err != nil {
		t.Errorf("Exists = %v, %v", ok, err)
	}
	if err := b.Publish(context.Background(), spec, a); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{ami, a.Data["snapshots.us-east-1"]}, f.leftovers()); diff != "" {
		t.Errorf("resources after build (-want +got):\n%s", diff)
	}
	if len(l.open) != 0 {
		t.Errorf("ledger still lists %v", l.open)
	}
	im := f.images[ami]
	if hasTag(im.Tags, tagTemporary) || tagValue(im.Tags, tagCurrent) != "true" || tagValue(im.Tags, "team") != "platform" ||
		str(im.Description) != "golden base" || str(im.Name) != "golden-0123456789ab-run1" {
		t.Errorf("published AMI = %+v", im)
	}
	before := f.mutations
	if err := b.Publish(context.Background(), spec, a); err != nil {
		t.Fatal(err)
	}
	if n := f.mutations - before; n != 0 {
		t.Errorf("publishing again made %d mutating calls, want 0", n)
	}
}

func TestPublishMovesCurrent(t *testing.T) {
	f := newFakeEC2()
	b := testBuilder(t, f)
	var amis []string
	for _, id := range []string{"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"} {
		spec := testSpec(&memLedger{open: map[string]builders.Resource{}})
		spec.ActionID = id
		a, err := runBuild(context.Background(), b, spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(context.Background(), spec, a); err != nil {
			t.Fatal(err)
		}
		amis = append(amis, a.OutputID)
	}
	if hasTag(f.images[amis[0]].Tags, tagCurrent) || !hasTag(f.images[amis[1]].Tags, tagCurrent) {
		t.Errorf("%s must move from %s to %s", tagCurrent, amis[0], amis[1])
	}
}

// TestFailEachStep makes each mutating call of a build fail in turn: every
// time, nothing of the build is left and the ledger is empty.
func TestFailEachStep(t *testing.T) {
	f := newFakeEC2()
	b := testBuilder(t, f)
	if _, err := runBuild(context.Background(), b, testSpec(&memLedger{open: map[string]builders.Resource{}})); err != nil {
		t.Fatal(err)
	}
	steps := f.mutations
	if steps < 5 {
		t.Fatalf("only %d mutating calls in a build", steps)
	}
	for n := 1; n <= steps; n++ {
		f := newFakeEC2()
		f.failAt = n
		b := testBuilder(t, f)
		l := &memLedger{open: map[string]builders.Resource{}}
		_, err := runBuild(context.Background(), b, testSpec(l))
		if err == nil || !strings.Contains(err.Error(), "failed on purpose") {
			t.Errorf("fail at %d: build = %v", n, err)
		}
		if left := f.leftovers(); len(left) != 0 {
			t.Errorf("fail at call %d (%s): left %v", n, f.calls[len(f.calls)-1], left)
		}
		if len(l.open) != 0 {
			t.Errorf("fail at call %d: ledger lists %v", n, l.open)
		}
	}
}

func TestCancelDuringWait(t *testing.T) {
	f := newFakeEC2()
	b := testBuilder(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	spec := testSpec(&memLedger{open: map[string]builders.Resource{}})
	spec.Log = writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), "creating AMI") {
			cancel()
		}
		return len(p), nil
	})
	// The AMI stays pending so that Capture waits, and sees the cancel.
	f.pendingImages = true
	if _, err := runBuild(ctx, b, spec); !errors.Is(err, context.Canceled) {
		t.Fatalf("build = %v, want cancelled", err)
	}
	if left := f.leftovers(); len(left) != 0 {
		t.Errorf("left %v", left)
	}
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

func TestSourceFilterErrors(t *testing.T) {
	f := newFakeEC2()
	f.images["ami-other"] = &types.Image{ImageId: aws.String("ami-other"), Name: aws.String("debian-12b"),
		State: types.ImageStateAvailable, CreationDate: aws.String("2025-01-01")}
	b := testBuilder(t, f)
	for _, tt := range []struct {
		filter AMIFilter
		want   string
	}{
		{AMIFilter{Name: "ubuntu*", Owners: []string{"self"}}, "no available AMI matches"},
		{AMIFilter{Name: "debian-12*", Owners: []string{"self"}}, "2 AMIs match"},
		{AMIFilter{Name: "debian-12*", Owners: []string{"self"}, MostRecent: true}, ""},
	} {
		src := &Source{AMIFilter: &tt.filter}
		err := b.pin(context.Background(), "us-east-1", src)
		if tt.want == "" {
			if err != nil || src.AMI != "ami-other" {
				t.Errorf("pin(%s) = %v, %q; want the newest", &tt.filter, err, src.AMI)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("pin(%s) = %v, want %q", &tt.filter, err, tt.want)
		}
	}
	if _, err := b.client(context.Background(), "nowhere-1"); err == nil || !strings.Contains(err.Error(), "unknown region") {
		t.Errorf("client(nowhere-1) = %v", err)
	}
}
