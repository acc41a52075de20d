package amazon

import (
	"context"
	"testing"

	"github.com/pipebuild/pipe/builders/ssh"
)

// Test hooks for the external tests (package amazon_test), which use the
// builders/all registry and so cannot live in package amazon.

// SetSSHPortOverride sets sshPortOverride for the test.
func SetSSHPortOverride(t testing.TB, f func(instanceID string) int) {
	old := sshPortOverride
	sshPortOverride = f
	t.Cleanup(func() { sshPortOverride = old })
}

// UseFakeSSH replaces SSH with a communicator that runs nothing, for tests
// whose fake instances run no sshd (amazontest.NopRunner).
func UseFakeSSH(t testing.TB) {
	old := dialSSH
	dialSSH = func(context.Context, ssh.Config) (sshClient, error) { return fakeSSH{&fakeComm{}}, nil }
	t.Cleanup(func() { dialSSH = old })
}
