// Package amazontest is a stateful fake of the Amazon EC2 Query API for
// testing the amazon-ebs builder through the real aws-sdk-go-v2 client.
//
// A [Fake] is an [net/http.Handler] that speaks the EC2 Query protocol: POST
// form bodies (Action=…&Version=2016-11-15) in, XML documents in the
// http://ec2.amazonaws.com/doc/2016-11-15/ namespace out, and errors as
// <Response><Errors><Error><Code>…</Code>… with HTTP 400 (503 for
// throttling). Point the SDK at it with aws.Config.BaseEndpoint or the
// standard AWS_ENDPOINT_URL_EC2 environment variable and any static
// credentials:
//
//	fake := amazontest.New(amazontest.Options{})
//	endpoint := fake.Start(t) // http://127.0.0.1:PORT, closed by t.Cleanup
//	client := ec2.NewFromConfig(aws.Config{
//		Region:       "us-east-1",
//		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
//		BaseEndpoint: aws.String(endpoint),
//	})
//
// # Regions
//
// The region of a request is read from the credential scope of its SigV4
// Authorization header (Credential=AKID/DATE/REGION/ec2/aws4_request), so one
// server serves several regions, each with its own state: one default VPC,
// one default subnet and the "default" security group, plus the public
// source image debian-12-amd64-pipe-fake owned by 136693071363 (Debian's
// real account id, so templates' ami_filter finds it). Requests without a
// SigV4 header use Options.DefaultRegion.
//
// # Behaviour
//
// State is kept in memory and moves with time: instances go pending →
// running, stopping → stopped and shutting-down → terminated, images (and
// their snapshots) pending → available, after the configurable
// [Delays]. A zero delay means the next Describe call sees the new state.
// Options.ThrottleRate makes that (seeded, random) fraction of calls fail
// with RequestLimitExceeded / HTTP 503, which the SDK's standard retryer
// retries. Options.EventualConsistency hides a newly created resource from
// the next N Describe calls that would have shown it: naming its id returns
// the resource's NotFound error (InvalidInstanceID.NotFound,
// InvalidAMIID.NotFound, …), listing just leaves it out.
//
// Of the SDK's waiters, InstanceRunning/Stopped/Terminated and
// SecurityGroupExists retry NotFound; ImageAvailable does not, so code that
// waits for a new image under EventualConsistency must retry NotFound itself
// (as Packer does).
//
// Like EC2, the fake refuses what EC2 refuses: DeleteSecurityGroup while an
// instance that is not yet terminated uses the group (DependencyViolation),
// DeleteSnapshot of a registered image's snapshot (InvalidSnapshot.InUse),
// duplicate or malformed AMI names, unknown filter names, reserved "aws:"
// tag keys, changes to images the account does not own (AuthFailure).
// CopyImageTags copies the AMI's tags, not its snapshots'.
//
// Any action the fake does not implement fails loudly: HTTP 400
// InvalidAction, a line through Options.Logf, and (with [Fake.Start]) a test
// error at cleanup unless Options.AllowUnimplemented is set. See
// [Fake.Actions] for the list of implemented actions.
//
// # Instances that really boot
//
// A [Runner] gives instances a body. [NopRunner] runs nothing (API-only
// tests). [SSHDRunner] makes every instance a real /usr/sbin/sshd on
// 127.0.0.1:<free port>, chrooted (ChrootDirectory) into the instance's own
// root filesystem, which is restored from its image's root snapshot. The
// stock image's snapshot is a small busybox-static root filesystem with
// Debian's bash-static as /bin/bash. CreateImage copies the instance's root
// filesystem into a new snapshot, so a file written while building one image
// is there when an instance boots from it. StopInstances stops sshd (the root
// filesystem stays), StartInstances starts it again on a new port,
// TerminateInstances stops it and removes the root filesystem.
//
// Two things differ from EC2, on purpose:
//
//   - The SSH port. EC2 always uses port 22; a fake instance listens on a free
//     loopback port, which the fake publishes as the instance tag
//     "pipe:fake-ssh-port" (see [SSHPortTag]) and through [Fake.SSHPort].
//     PublicIpAddress and PrivateIpAddress are always 127.0.0.1. A builder
//     must read the port only through an explicit test hook, never by
//     trusting tags in production.
//   - The login user. sshd looks users up in the host's passwd before it
//     chroots, so fake instances accept root only (with the key pair the
//     instance was launched with, or none). Builder tests use
//     ssh_username: root.
//
// SSHDRunner needs root; [RequireSSHD] skips a test without it, or fails it
// when PIPE_REQUIRE_INTEGRATION=1.
//
// cmd/fakeec2 serves a Fake on loopback until interrupted, so a pipeline can
// be tried without an AWS account.
package amazontest
