package amazon

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/pipebuild/pipe/builders/ssh"
	"github.com/pipebuild/pipe/stages"
)

// sshPortOverride, when set, gives the SSH port of an instance instead of
// ssh_port. It is a test hook only: the fake EC2 (package amazontest) runs
// every instance's sshd on its own loopback port, while real EC2 instances
// all listen on 22. Production code never sets it.
var sshPortOverride func(instanceID string) int

// FakeSSHPortEnv, set to 1, makes the builder connect to the port an
// instance publishes in its pipe:fake-ssh-port tag instead of ssh_port. It
// exists for the fake EC2 (package amazontest, cmd/fakeec2), whose
// instances are sshd processes on their own loopback ports, when pipe runs
// as a separate process (trying a pipeline, tests that kill pipe). It is
// honoured only when the EC2 endpoint (AWS_ENDPOINT_URL_EC2 or
// AWS_ENDPOINT_URL) and the instance's address are both loopback
// addresses, so it can never redirect SSH to a real EC2 instance.
const FakeSSHPortEnv = "PIPE_FAKE_EC2_SSH_PORT_TAG"

// fakeSSHPortTag is the tag the fake publishes the port on
// (amazontest.SSHPortTag; the builder does not import the fake).
const fakeSSHPortTag = "pipe:fake-ssh-port"

// fakeTagPort is the port of FakeSSHPortEnv, or 0 when it does not apply.
func (bd *build) fakeTagPort(host string) int {
	if os.Getenv(FakeSSHPortEnv) != "1" || !isLoopback(host) || !loopbackEndpoint() {
		return 0
	}
	p, err := strconv.Atoi(tagValue(bd.instance.Tags, fakeSSHPortTag))
	if err != nil || p <= 0 || p > 65535 {
		return 0
	}
	return p
}

// loopbackEndpoint reports whether the SDK's EC2 endpoint setting names a
// loopback host.
func loopbackEndpoint() bool {
	e := os.Getenv("AWS_ENDPOINT_URL_EC2")
	if e == "" {
		e = os.Getenv("AWS_ENDPOINT_URL")
	}
	u, err := url.Parse(e)
	return e != "" && err == nil && isLoopback(u.Hostname())
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sshClient is what the builder needs of an SSH connection.
type sshClient interface {
	Communicator() stages.Communicator
	Close() error
}

// dialSSH connects over SSH; unit tests replace it to run the steps without
// an sshd.
var dialSSH = func(ctx context.Context, cfg ssh.Config) (sshClient, error) { return ssh.Dial(ctx, cfg) }

// sshHost is the instance's address chosen by ssh_interface; the default
// is the public address when there is one, else the private one.
func (bd *build) sshHost() (string, error) {
	inst := bd.instance
	var host string
	switch bd.cfg.SSHInterface {
	case "public_ip":
		host = str(inst.PublicIpAddress)
	case "private_ip":
		host = str(inst.PrivateIpAddress)
	case "public_dns":
		host = str(inst.PublicDnsName)
	case "private_dns":
		host = str(inst.PrivateDnsName)
	default:
		host = str(inst.PublicIpAddress)
		if host == "" {
			host = str(inst.PrivateIpAddress)
		}
	}
	if host == "" {
		iface := bd.cfg.SSHInterface
		if iface == "" {
			iface = "public_ip or private_ip"
		}
		return "", fmt.Errorf("instance %s has no %s to connect to", bd.instanceID, iface)
	}
	return host, nil
}

// connect opens SSH to the instance, retrying until ssh_timeout; the
// connection is closed by the undo stack.
func (bd *build) connect(ctx context.Context) error {
	host, err := bd.sshHost()
	if err != nil {
		return err
	}
	port := bd.cfg.sshPort()
	if p := bd.fakeTagPort(host); p != 0 {
		port = p
	}
	if sshPortOverride != nil {
		port = sshPortOverride(bd.instanceID)
	}
	user := bd.cfg.SSHUsername
	cl, err := dialSSH(ctx, ssh.Config{Host: host, Port: port, User: user, Signer: bd.signer,
		Timeout: durationOr(bd.cfg.SSHTimeout, defaultSSHTimeout), Log: bd.spec.Log})
	if err != nil {
		return fmt.Errorf("ssh to instance %s as %s@%s:%d: %w", bd.instanceID, user, host, port, err)
	}
	bd.undo.Push("close ssh to "+bd.instanceID, func(context.Context) error { return cl.Close() })
	bd.comm = cl.Communicator()
	return nil
}

// guardScript schedules a shutdown, which instance_initiated_shutdown_behavior
// terminate turns into termination, after max_lifetime minutes. An image
// without shutdown(8) (busybox has none) gets a warning: the instance then
// lives until pipe or `pipe cleanup` terminates it.
const guardScript = `command -v shutdown >/dev/null 2>&1 || exit 3
shutdown -h +%d "pipe: max_lifetime reached" >/dev/null 2>&1 </dev/null || exit 4`

// guard schedules the lifetime guard over SSH right after connecting, so
// that even a killed run cannot leave the instance running for ever. The
// shutdown is cancelled by the stop before imaging and is not part of the
// image (it lives in /run).
func (bd *build) guard(ctx context.Context) error {
	minutes := int(durationOr(bd.cfg.MaxLifetime, defaultMaxLifetime) / time.Minute)
	minutes = max(minutes, 1)
	status, err := bd.comm.Run(ctx, &stages.Cmd{Command: fmt.Sprintf(guardScript, minutes),
		Stdout: io.Discard, Stderr: io.Discard})
	switch {
	case err != nil:
		return fmt.Errorf("schedule max_lifetime shutdown on %s: %w", bd.instanceID, err)
	case status == 3:
		logf(bd.spec.Log, "warning: instance %s has no shutdown command: max_lifetime is not enforced", bd.instanceID)
	case status != 0:
		logf(bd.spec.Log, "warning: instance %s: scheduling shutdown failed (exit %d): max_lifetime is not enforced", bd.instanceID, status)
	default:
		logf(bd.spec.Log, "instance %s shuts down in %d minutes at the latest (max_lifetime)", bd.instanceID, minutes)
	}
	return nil
}
