package amazon_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pipebuild/pipe/builders/amazon"
	"github.com/pipebuild/pipe/builders/amazon/amazontest"
	"github.com/pipebuild/pipe/pipeline"
)

// cancelPipeline is e2ePipeline's shape with a marker line while base
// provisions, so that a run can be cancelled in the middle of it.
const cancelPipeline = `name: golden
builders:
  aws:
    type: amazon-ebs
    region: us-east-1
    instance_type: t3.small
    ami_name: golden
    ssh_username: root
    ssh_timeout: 30s
    temporary_security_group_source_cidrs: ["127.0.0.1/32"]
    aws_polling: { scale: 0.02 }
    source:
      ami_filter: { name: "debian-12-amd64-pipe-fake", owners: ["136693071363"], most_recent: true }
stages:
  base:
    builders: [aws]
    provision:
      - shell: { inline: ["echo provisioning-base", "sleep 1", "echo base > /root/base"] }
  hardened:
    from: base
    provision:
      - shell: { inline: ["echo hardened > /root/hardened"] }
`

// cancelOn wraps the fake's handler: once action has been answered n times,
// it cancels the run.
type cancelOn struct {
	f      *amazontest.Fake
	action string
	n      int

	mu     sync.Mutex
	seen   int
	cancel context.CancelFunc
	fired  bool
}

func (c *cancelOn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm() // the fake's own ParseForm then finds the form parsed
	c.f.ServeHTTP(w, r)
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Form.Get("Action") == c.action {
		c.seen++
		if c.seen == c.n && !c.fired {
			c.fired = true
			c.cancel()
		}
	}
}

// TestCancelAfterEachStep cancels a run right after each step of a build
// in turn (the fake answered the step's call, or the instance is
// provisioning): every time, nothing of the interrupted build remains
// (instances, key pairs, security groups, AMIs, snapshots), the ledger's
// undo ran, and the interrupted node has no cache record. Instances are
// real sshd processes when the host allows it; otherwise SSH is faked and
// the provisioning case is skipped.
func TestCancelAfterEachStep(t *testing.T) {
	realSSH := amazontest.CheckSSHD(amazontest.SSHDOptions{}) == nil
	for _, tt := range []struct {
		action      string // cancel once the fake answered it n times
		n           int
		line        string // or: cancel when this output line appears
		interrupted string // node interrupted; the ones before it are built
	}{
		{action: "DescribeImages", n: 1, interrupted: "base@aws"}, // before anything is created
		{action: "ImportKeyPair", n: 1, interrupted: "base@aws"},
		{action: "CreateSecurityGroup", n: 1, interrupted: "base@aws"},
		{action: "AuthorizeSecurityGroupIngress", n: 1, interrupted: "base@aws"},
		{action: "RunInstances", n: 1, interrupted: "base@aws"},
		{line: "provisioning-base", interrupted: "base@aws"},
		{action: "StopInstances", n: 1, interrupted: "base@aws"},
		{action: "CreateImage", n: 1, interrupted: "base@aws"}, // during the AMI wait
		{action: "RunInstances", n: 2, interrupted: "hardened@aws"},
		{action: "CreateImage", n: 2, interrupted: "hardened@aws"},
	} {
		name := tt.action
		if tt.line != "" {
			name = "line " + tt.line
		}
		if tt.n > 1 {
			name += " #2"
		}
		t.Run(name, func(t *testing.T) {
			opts := amazontest.Options{Delays: fastDelays}
			if realSSH {
				opts.Runner = amazontest.RequireSSHD(t, amazontest.SSHDOptions{})
			} else if tt.line != "" {
				t.Skip("needs real sshd instances (root, openssh-server, busybox-static, bash-static)")
			}
			f := amazontest.New(opts)
			f.Start(t) // failure checks and Close at cleanup
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h := &cancelOn{f: f, action: tt.action, n: tt.n, cancel: cancel}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			setFakeEnv(t, srv.URL)
			if realSSH {
				amazon.SetSSHPortOverride(t, f.SSHPort)
			} else {
				amazon.UseFakeSSH(t)
			}
			dir, st := project(t, cancelPipeline)
			p, err := load(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			reporter := pipeline.ReporterFunc(func(e pipeline.Event) {
				if tt.line != "" && e.Kind == "log" && strings.Contains(e.Line, tt.line) {
					cancel()
				}
			})
			res, err := p.Run(ctx, st, pipeline.RunOptions{Reporter: reporter})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Interrupted {
				t.Errorf("run not interrupted")
			}
			var kept []string // AMIs and snapshots of the nodes built before the cancel
			for _, n := range res.Nodes {
				switch {
				case n.Node.Name == tt.interrupted:
					if n.Status != pipeline.StatusNotRun || n.Reason != "interrupted" {
						t.Errorf("%s: %s (%s): %v, want interrupted", n.Node.Name, n.Status, n.Reason, n.Err)
					}
				case n.Status == pipeline.StatusBuilt:
					for k, v := range n.Artifact.Data {
						if strings.HasPrefix(k, "ami.") || strings.HasPrefix(k, "snapshots.") {
							kept = append(kept, strings.Split(v, ",")...)
						}
					}
				}
			}
			recs, err := st.List("")
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Node == tt.interrupted {
					t.Errorf("the interrupted node %s has a cache record", r.Node)
				}
			}
			for _, id := range f.Leftovers("pipe:run", "") { // one run per fake: every pipe:run tag is its
				if !contains(kept, strings.TrimPrefix(id, "us-east-1/")) {
					t.Errorf("left behind: %s", id)
				}
			}
			if left := f.Leftovers("pipe:temporary", ""); len(left) != 0 {
				t.Errorf("temporary resources left: %v", left)
			}
			if left := namedLeftovers(t, "us-east-1"); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
			runs, err := st.Runs()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range runs {
				if len(r.Outstanding) != 0 {
					t.Errorf("run %s's ledger still lists %d resources", r.ID, len(r.Outstanding))
				}
			}
		})
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
