package amazontest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"
)

func TestChrootComponentsRefuseTmp(t *testing.T) {
	if err := checkChrootComponents(os.TempDir()+"/pipe-fake", true); err == nil {
		t.Errorf("a chroot under %s was accepted", os.TempDir())
	}
	if err := checkChrootComponents("/var/lib/pipe-fake-ec2-does-not-exist/x", true); err != nil && os.Geteuid() == 0 {
		t.Errorf("/var/lib: %v", err)
	}
}

// TestStopStartKeepsRootFS: a stopped instance keeps its files and comes
// back on a new port; a terminated one is gone, sshd included.
func TestStopStartKeepsRootFS(t *testing.T) {
	runner := RequireSSHD(t, SSHDOptions{})
	f := New(Options{Runner: runner})
	endpoint := f.Start(t)
	ctx := context.Background()
	c := client(endpoint, "us-east-1")
	kp := must(c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k"), KeyType: types.KeyTypeEd25519}))(t)
	signer := must(ssh.ParsePrivateKey([]byte(aws.ToString(kp.KeyMaterial))))(t)
	run := must(c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.SourceImageID("us-east-1")),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), KeyName: aws.String("k")}))(t)
	id := aws.ToString(run.Instances[0].InstanceId)
	waitRunning(ctx, t, c, id)
	exec := func(cmd string) (string, error) {
		info, _ := f.Instance(id)
		conn, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", info.SSHPort), &ssh.ClientConfig{User: "root",
			Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.FixedHostKey(info.HostKey), Timeout: 5 * time.Second})
		if err != nil {
			return "", err
		}
		defer conn.Close()
		s, err := conn.NewSession()
		if err != nil {
			return "", err
		}
		defer s.Close()
		out, err := s.CombinedOutput(cmd)
		return string(out), err
	}
	if out, err := exec("echo kept > /root/f; ls /bin/bash /dev/null; echo $HOME"); err != nil || out != "/bin/bash\n/dev/null\n/root\n" {
		t.Fatalf("exec: %q %v", out, err)
	}
	// Another user cannot log in.
	port := f.SSHPort(id)
	if _, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &ssh.ClientConfig{User: "admin",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second}); err == nil {
		t.Errorf("admin logged in")
	}
	must(c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}))(t)
	waitStopped(ctx, t, c, id)
	if f.SSHPort(id) != 0 || banner(port) {
		t.Fatalf("sshd still answers on %d after stop", port)
	}
	must(c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}))(t)
	waitRunning(ctx, t, c, id)
	if f.SSHPort(id) == 0 {
		t.Fatal("no port after start")
	}
	if out, err := exec("cat /root/f"); err != nil || out != "kept\n" {
		t.Errorf("after stop/start: %q %v", out, err)
	}
	port = f.SSHPort(id)
	must(c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}))(t)
	if banner(port) {
		t.Errorf("sshd still answers after terminate")
	}
	if _, err := os.Stat(runner.Dir() + "/instances/" + id); !os.IsNotExist(err) {
		t.Errorf("instance directory kept after terminate: %v", err)
	}
}

func TestRunnerCloseRemovesEverything(t *testing.T) {
	runner := RequireSSHD(t, SSHDOptions{})
	f := New(Options{Runner: runner})
	endpoint := f.Start(t)
	c := client(endpoint, "us-east-1")
	run := must(c.RunInstances(context.Background(), &ec2.RunInstancesInput{ImageId: aws.String(f.SourceImageID("us-east-1")),
		MinCount: aws.Int32(2), MaxCount: aws.Int32(2)}))(t)
	var ports []int
	for _, in := range run.Instances {
		ports = append(ports, f.SSHPort(aws.ToString(in.InstanceId)))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if p == 0 || banner(p) {
			t.Errorf("port %d: sshd alive after Close (or never started)", p)
		}
	}
	if _, err := os.Stat(runner.Dir()); !os.IsNotExist(err) {
		t.Errorf("runner directory kept: %v", err)
	}
}
