package amazontest

import (
	"os"
	"testing"
)

// Start serves the fake on 127.0.0.1 for the duration of the test and
// returns its endpoint URL (for aws.Config.BaseEndpoint or
// AWS_ENDPOINT_URL_EC2). Unless Options.Logf is set, the fake logs through
// t.Logf. At cleanup the test fails if an unimplemented action was called
// (unless Options.AllowUnimplemented) or the Runner failed, and the fake is
// closed.
func (f *Fake) Start(t testing.TB) string {
	t.Helper()
	f.mu.Lock()
	if f.opts.Logf == nil {
		f.opts.Logf = t.Logf
	}
	f.mu.Unlock()
	srv := f.Server()
	t.Cleanup(func() {
		if u := f.Unimplemented(); len(u) > 0 && !f.opts.AllowUnimplemented {
			t.Errorf("amazontest: the code under test called EC2 actions the fake does not implement: %v", u)
		}
		if err := f.RunnerErr(); err != nil {
			t.Errorf("amazontest: runner: %v", err)
		}
		if err := f.Close(); err != nil {
			t.Errorf("amazontest: close: %v", err)
		}
	})
	return srv.URL
}

// RequireSSHD returns an SSHDRunner for the test (closed at cleanup). When
// the host cannot run one (not root, openssh-server, busybox-static or
// bash-static missing) the test is skipped with the reason, or fails when
// PIPE_REQUIRE_INTEGRATION=1.
func RequireSSHD(t testing.TB, opts SSHDOptions) *SSHDRunner {
	t.Helper()
	r, err := NewSSHDRunner(opts)
	if err != nil {
		if os.Getenv("PIPE_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("amazontest: real sshd instances unavailable and PIPE_REQUIRE_INTEGRATION=1: %v", err)
		}
		t.Skipf("amazontest: real sshd instances unavailable (set PIPE_REQUIRE_INTEGRATION=1 to fail instead): %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}
