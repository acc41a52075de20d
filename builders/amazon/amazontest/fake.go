package amazontest

import (
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Delays are how long the fake's asynchronous state changes take. A zero
// delay means the next Describe call already sees the new state.
type Delays struct {
	// InstanceRunning is pending → running, after RunInstances or
	// StartInstances.
	InstanceRunning time.Duration
	// InstanceStopping is stopping → stopped, after StopInstances.
	InstanceStopping time.Duration
	// InstanceTerminating is shutting-down → terminated, after
	// TerminateInstances.
	InstanceTerminating time.Duration
	// ImageAvailable is pending → available for CreateImage and CopyImage
	// (and pending → completed for their snapshots).
	ImageAvailable time.Duration
}

// Scale returns d with every delay multiplied by f.
func (d Delays) Scale(f float64) Delays {
	s := func(x time.Duration) time.Duration { return time.Duration(float64(x) * f) }
	return Delays{s(d.InstanceRunning), s(d.InstanceStopping), s(d.InstanceTerminating), s(d.ImageAvailable)}
}

// RealisticDelays are delays in the order of EC2's, shortened: a few
// seconds per state change.
var RealisticDelays = Delays{
	InstanceRunning:     3 * time.Second,
	InstanceStopping:    2 * time.Second,
	InstanceTerminating: 2 * time.Second,
	ImageAvailable:      5 * time.Second,
}

// DefaultRegions are the regions a Fake serves unless Options.Regions says
// otherwise.
var DefaultRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1",
}

// Public source image present in every region.
const (
	// SourceImageName is the name of the public source image in every region.
	SourceImageName = "debian-12-amd64-pipe-fake"
	// SourceImageOwner is its owner: Debian's real AWS account id.
	SourceImageOwner = "136693071363"
	// DefaultAccountID is the caller's account id unless Options.AccountID
	// says otherwise; Owners=self means this account.
	DefaultAccountID = "123456789012"
	// SSHPortTag is the instance tag on which the fake publishes the SSH
	// port of a running instance (EC2 would use port 22).
	SSHPortTag = "pipe:fake-ssh-port"
)

// Options configure a Fake. The zero value is a fast, reliable fake with
// no instances that boot.
type Options struct {
	// Delays of the asynchronous state changes.
	Delays Delays
	// ThrottleRate is the fraction (0..1) of calls that fail with
	// RequestLimitExceeded (HTTP 503) before doing anything, chosen by a
	// random source seeded with Seed.
	ThrottleRate float64
	// EventualConsistency is how many Describe calls after a create still
	// do not see the new resource: asked for by id they return its NotFound
	// error, listed they leave it out.
	EventualConsistency int
	// Runner boots instances; nil means NopRunner. The Fake owns it and
	// closes it in Close.
	Runner Runner
	// Seed seeds ids and throttling; 0 means 1.
	Seed int64
	// AccountID is the caller's account; "" means DefaultAccountID.
	AccountID string
	// Regions served; nil means DefaultRegions. A request for another
	// region fails with AuthFailure.
	Regions []string
	// DefaultRegion is used for requests without a SigV4 Authorization
	// header; "" means the first of Regions.
	DefaultRegion string
	// Logf receives one line per unimplemented action, runner error and
	// (when Verbose) per call. Fake.Start sets it to t.Logf when nil.
	Logf func(format string, args ...any)
	// Verbose logs every call through Logf.
	Verbose bool
	// AllowUnimplemented stops Fake.Start from failing the test when an
	// unimplemented action was called.
	AllowUnimplemented bool
}

// Fake is a stateful fake of the EC2 Query API. It is an http.Handler; all
// methods are safe for concurrent use.
type Fake struct {
	opts   Options
	runner Runner

	mu            sync.Mutex
	ids           *rand.Rand
	throttle      *rand.Rand
	seq           int64
	regions       map[string]*region
	calls         map[string]int
	throttled     int
	unimplemented []string
	runnerErrs    []error
	srv           *httptest.Server
	closed        bool
}

// New returns a Fake; it serves nothing until Server, Start or an
// http.Server of the caller's uses it as handler.
func New(opts Options) *Fake {
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.AccountID == "" {
		opts.AccountID = DefaultAccountID
	}
	if len(opts.Regions) == 0 {
		opts.Regions = DefaultRegions
	}
	if opts.DefaultRegion == "" {
		opts.DefaultRegion = opts.Regions[0]
	}
	if opts.Runner == nil {
		opts.Runner = NopRunner{}
	}
	return &Fake{
		opts:     opts,
		runner:   opts.Runner,
		ids:      rand.New(rand.NewSource(opts.Seed)),
		throttle: rand.New(rand.NewSource(opts.Seed + 7919)),
		regions:  map[string]*region{},
		calls:    map[string]int{},
	}
}

// Server starts (once) and returns an httptest.Server for the fake on
// 127.0.0.1. Its URL is the endpoint for BaseEndpoint or
// AWS_ENDPOINT_URL_EC2.
func (f *Fake) Server() *httptest.Server {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv == nil {
		f.srv = httptest.NewServer(f) // httptest listens on 127.0.0.1
	}
	return f.srv
}

// URL is the endpoint of Server.
func (f *Fake) URL() string { return f.Server().URL }

// Close stops the server (if started), stops every instance and closes the
// Runner, removing its files. It is safe to call twice.
func (f *Fake) Close() error {
	f.mu.Lock()
	srv := f.srv
	done := f.closed
	f.closed = true
	f.mu.Unlock()
	if done {
		return nil
	}
	if srv != nil {
		srv.CloseClientConnections()
		srv.Close()
	}
	return f.runner.Close()
}

// handler is one action. It runs with f.mu held.
type handler func(f *Fake, c *call) (reply, error)

// call is the context of one request.
type call struct {
	action string
	region *region
	args   args
	now    time.Time
}

// handlers lists every implemented action.
var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"DescribeRegions":               (*Fake).describeRegions,
		"DescribeVpcs":                  (*Fake).describeVpcs,
		"DescribeSubnets":               (*Fake).describeSubnets,
		"DescribeSecurityGroups":        (*Fake).describeSecurityGroups,
		"CreateSecurityGroup":           (*Fake).createSecurityGroup,
		"AuthorizeSecurityGroupIngress": (*Fake).authorizeSecurityGroupIngress,
		"DeleteSecurityGroup":           (*Fake).deleteSecurityGroup,
		"CreateKeyPair":                 (*Fake).createKeyPair,
		"ImportKeyPair":                 (*Fake).importKeyPair,
		"DeleteKeyPair":                 (*Fake).deleteKeyPair,
		"DescribeKeyPairs":              (*Fake).describeKeyPairs,
		"RunInstances":                  (*Fake).runInstances,
		"DescribeInstances":             (*Fake).describeInstances,
		"StopInstances":                 (*Fake).stopInstances,
		"StartInstances":                (*Fake).startInstances,
		"TerminateInstances":            (*Fake).terminateInstances,
		"DescribeImages":                (*Fake).describeImages,
		"CreateImage":                   (*Fake).createImage,
		"CopyImage":                     (*Fake).copyImage,
		"DeregisterImage":               (*Fake).deregisterImage,
		"ModifyImageAttribute":          (*Fake).modifyImageAttribute,
		"DescribeImageAttribute":        (*Fake).describeImageAttribute,
		"DescribeSnapshots":             (*Fake).describeSnapshots,
		"DeleteSnapshot":                (*Fake).deleteSnapshot,
		"CreateTags":                    (*Fake).createTags,
		"DeleteTags":                    (*Fake).deleteTags,
	}
}

// Actions lists the implemented actions, sorted.
func (f *Fake) Actions() []string {
	out := make([]string, 0, len(handlers))
	for a := range handlers {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

var credentialScope = regexp.MustCompile(`Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/ec2/aws4_request`)

// ServeHTTP answers one EC2 Query request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, "", errf("MalformedQueryString", "%v", err))
		return
	}
	a := args(r.Form)
	action := a.Str("Action")
	regionName := f.opts.DefaultRegion
	if m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		regionName = m[1]
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	reqID := f.requestID()
	if f.opts.ThrottleRate > 0 && f.throttle.Float64() < f.opts.ThrottleRate {
		f.throttled++
		writeError(w, reqID, &apiError{Status: http.StatusServiceUnavailable, Code: "RequestLimitExceeded", Message: "Request limit exceeded."})
		return
	}
	if action == "" {
		writeError(w, reqID, errMissing("Action"))
		return
	}
	f.calls[action]++
	if f.opts.Verbose {
		f.logf("amazontest: %s %s", regionName, action)
	}
	h, ok := handlers[action]
	if !ok {
		f.unimplemented = append(f.unimplemented, action)
		f.logf("amazontest: UNIMPLEMENTED EC2 action %q (region %s): the fake answers InvalidAction", action, regionName)
		writeError(w, reqID, errf("InvalidAction", "The action %s is not valid for this web service (not implemented by the amazontest fake).", action))
		return
	}
	if v := a.Str("Version"); v != "" && v != APIVersion {
		writeError(w, reqID, errf("InvalidParameterValue", "Version %s is not supported by the fake (want %s)", v, APIVersion))
		return
	}
	reg, aerr := f.region(regionName)
	if aerr != nil {
		writeError(w, reqID, aerr)
		return
	}
	c := &call{action: action, region: reg, args: a, now: timeNow()}
	reg.advance(c.now)
	out, err := h(f, c)
	if err != nil {
		ae, ok := err.(*apiError)
		if !ok {
			ae = &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: err.Error()}
			f.logf("amazontest: %s %s: internal error: %v", regionName, action, err)
		}
		writeError(w, reqID, ae)
		return
	}
	writeReply(w, action, reqID, out)
}

func (f *Fake) logf(format string, args ...any) {
	if f.opts.Logf != nil {
		f.opts.Logf(format, args...)
	}
}

// region returns the state of a served region, creating it on first use.
func (f *Fake) region(name string) (*region, *apiError) {
	if r, ok := f.regions[name]; ok {
		return r, nil
	}
	served := false
	for _, n := range f.opts.Regions {
		served = served || n == name
	}
	if !served {
		return nil, errf("AuthFailure", "region %q is not served by the fake (served: %s)", name, strings.Join(f.opts.Regions, ", "))
	}
	r := &region{
		name:      name,
		groups:    map[string]*securityGroup{},
		keyPairs:  map[string]*keyPair{},
		instances: map[string]*instance{},
		images:    map[string]*image{},
		snapshots: map[string]*snapshot{},
		hidden:    map[string]int{},
	}
	r.vpc = &vpc{id: f.newID("vpc"), cidr: "172.31.0.0/16", tags: map[string]string{}}
	r.subnet = &subnet{id: f.newID("subnet"), vpcID: r.vpc.id, cidr: "172.31.0.0/20", az: name + "a", tags: map[string]string{}}
	def := &securityGroup{seq: f.nextSeq(), id: f.newID("sg"), name: "default", vpcID: r.vpc.id,
		description: "default VPC security group", tags: map[string]string{}, isDefault: true}
	r.groups[def.id] = def
	if err := f.seedSourceImage(r); err != nil {
		return nil, &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: err.Error()}
	}
	f.regions[name] = r
	return r, nil
}

// seedSourceImage registers the public Debian-like source image and its
// snapshot, built by the Runner.
func (f *Fake) seedSourceImage(r *region) error {
	snap := &snapshot{seq: f.nextSeq(), id: f.newID("snap"), volumeID: f.newID("vol"), ownerID: SourceImageOwner,
		description: "debian-12 pipe fake root", size: 8, state: snapshotComplete, hasData: true,
		started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), tags: map[string]string{}}
	if err := f.runner.SeedSnapshot(snap.id); err != nil {
		return fmt.Errorf("seeding the source image snapshot: %w", err)
	}
	im := &image{seq: f.nextSeq(), id: f.newID("ami"), name: SourceImageName,
		description: "Debian 12 (bookworm) fake for pipe tests: busybox + bash-static",
		ownerID:     SourceImageOwner, public: true, state: imageAvailable, created: snap.started,
		blockDevices: []BlockDevice{{DeviceName: rootDevice, SnapshotID: snap.id, VolumeSize: 8, VolumeType: "gp3", DeleteOnTermination: true}},
		tags:         map[string]string{}}
	r.snapshots[snap.id] = snap
	r.images[im.id] = im
	return nil
}

// rootDevice is the root device name of every fake image.
const rootDevice = "/dev/xvda"

func (f *Fake) nextSeq() int64 { f.seq++; return f.seq }

// newID returns a fresh id like "i-0123456789abcdef0".
func (f *Fake) newID(prefix string) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 17)
	for i := range b {
		b[i] = hex[f.ids.Intn(16)]
	}
	return prefix + "-" + string(b)
}

func (f *Fake) requestID() string {
	s := fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// hide applies Options.EventualConsistency to a new resource id.
func (f *Fake) hide(r *region, id string) {
	if f.opts.EventualConsistency > 0 {
		r.hidden[id] = f.opts.EventualConsistency
	}
}

// runnerError records and logs a Runner failure.
func (f *Fake) runnerError(err error) error {
	f.runnerErrs = append(f.runnerErrs, err)
	f.logf("amazontest: runner: %v", err)
	return err
}
