package amazontest

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"
)

func TestSourceImageInEveryRegion(t *testing.T) {
	f := New(Options{})
	endpoint := f.Start(t)
	ctx := context.Background()
	seen := map[string]bool{}
	for _, region := range []string{"us-east-1", "eu-west-1", "ap-southeast-1"} {
		out := must(client(endpoint, region).DescribeImages(ctx, &ec2.DescribeImagesInput{
			Owners:  []string{"136693071363"},
			Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"debian-12-amd64-*"}}},
		}))(t)
		if len(out.Images) != 1 {
			t.Fatalf("%s: %d images", region, len(out.Images))
		}
		im := out.Images[0]
		id := aws.ToString(im.ImageId)
		if seen[id] || id != f.SourceImageID(region) || im.State != types.ImageStateAvailable || !aws.ToBool(im.Public) ||
			aws.ToString(im.OwnerId) != SourceImageOwner || aws.ToString(im.Name) != SourceImageName ||
			aws.ToString(im.BlockDeviceMappings[0].Ebs.SnapshotId) == "" || aws.ToString(im.CreationDate) == "" {
			t.Errorf("%s: source image %+v", region, im)
		}
		seen[id] = true
	}
	// Owners=self does not list Debian's image.
	self := must(client(endpoint, "us-east-1").DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}))(t)
	if len(self.Images) != 0 {
		t.Errorf("Owners=self: %+v", self.Images)
	}
}

func TestRegionsHaveSeparateState(t *testing.T) {
	f := New(Options{})
	endpoint := f.Start(t)
	ctx := context.Background()
	us, eu := client(endpoint, "us-east-1"), client(endpoint, "eu-west-1")
	must(us.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k"), KeyType: types.KeyTypeEd25519}))(t)
	if out := must(us.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{}))(t); len(out.KeyPairs) != 1 {
		t.Errorf("us-east-1 key pairs: %+v", out.KeyPairs)
	}
	if out := must(eu.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{}))(t); len(out.KeyPairs) != 0 {
		t.Errorf("eu-west-1 sees us-east-1's key pair: %+v", out.KeyPairs)
	}
	// The same name is free in the other region.
	must(eu.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k")}))(t)
	if _, err := client(endpoint, "mars-north-1").DescribeRegions(ctx, &ec2.DescribeRegionsInput{}); code(err) != "AuthFailure" {
		t.Errorf("unserved region: %v", err)
	}
}

func TestUnimplementedActionFailsLoudly(t *testing.T) {
	var logged []string
	f := New(Options{AllowUnimplemented: true, Logf: func(format string, args ...any) { logged = append(logged, format) }})
	endpoint := f.Start(t)
	_, err := client(endpoint, "us-east-1").DescribeVolumes(context.Background(), &ec2.DescribeVolumesInput{})
	if code(err) != "InvalidAction" {
		t.Fatalf("DescribeVolumes: %v", err)
	}
	if u := f.Unimplemented(); len(u) != 1 || u[0] != "DescribeVolumes" {
		t.Errorf("Unimplemented() = %v", u)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "UNIMPLEMENTED") {
		t.Errorf("log: %v", logged)
	}
}

func TestEventualConsistency(t *testing.T) {
	f := New(Options{EventualConsistency: 2})
	endpoint := f.Start(t)
	ctx := context.Background()
	c := client(endpoint, "us-east-1")
	run := must(c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.SourceImageID("us-east-1")),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))(t)
	id := aws.ToString(run.Instances[0].InstanceId)
	for i := 0; i < 2; i++ {
		if _, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}); code(err) != "InvalidInstanceID.NotFound" {
			t.Fatalf("describe %d right after create: %v", i, err)
		}
	}
	must(c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}))(t)

	// The InstanceRunning waiter retries InvalidInstanceID.NotFound.
	run = must(c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.SourceImageID("us-east-1")),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))(t)
	waitRunning(ctx, t, c, aws.ToString(run.Instances[0].InstanceId))

	// Listing leaves a new resource out instead of failing.
	img := must(c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String("ec-test")}))(t)
	if out := must(c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}))(t); len(out.Images) != 0 {
		t.Errorf("listing right after create: %+v", out.Images)
	}
	if _, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(img.ImageId)}}); code(err) != "InvalidAMIID.NotFound" {
		t.Errorf("describe by id right after create: %v", err)
	}
	waitImage(ctx, t, c, aws.ToString(img.ImageId))
}

func TestErrorsLikeEC2(t *testing.T) {
	f := New(Options{})
	endpoint := f.Start(t)
	ctx := context.Background()
	c := client(endpoint, "us-east-1")
	src := f.SourceImageID("us-east-1")
	cases := []struct {
		name, want string
		call       func() error
	}{
		{"unknown filter", "InvalidParameterValue", func() error {
			_, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("nmae"), Values: []string{"x"}}}})
			return err
		}},
		{"unknown image", "InvalidAMIID.NotFound", func() error {
			_, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-0000000000000000"}})
			return err
		}},
		{"malformed image id", "InvalidAMIID.Malformed", func() error {
			_, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"debian"}})
			return err
		}},
		{"unknown key pair at launch", "InvalidKeyPair.NotFound", func() error {
			_, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(src), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), KeyName: aws.String("nope")})
			return err
		}},
		{"unknown instance", "InvalidInstanceID.NotFound", func() error {
			_, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
			return err
		}},
		{"deregister someone else's image", "AuthFailure", func() error {
			_, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(src)})
			return err
		}},
		{"delete the default group", "CannotDelete", func() error {
			_, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupName: aws.String("default")})
			return err
		}},
		{"reserved tag prefix", "InvalidParameterValue", func() error {
			_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{src}, Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}})
			return err
		}},
	}
	for _, tc := range cases {
		if err := tc.call(); code(err) != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.want)
		}
	}

	must(c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("dup")}))(t)
	if _, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("dup")}); code(err) != "InvalidKeyPair.Duplicate" {
		t.Errorf("duplicate key pair: %v", err)
	}
	run := must(c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(src), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))(t)
	id := aws.ToString(run.Instances[0].InstanceId)
	if _, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String("bad{name}")}); code(err) != "InvalidAMIName.Malformed" {
		t.Errorf("malformed AMI name: %v", err)
	}
	sg := must(c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("g"), Description: aws.String("d")}))(t)
	rule := &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"),
		FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []types.IpRange{{CidrIp: aws.String("127.0.0.1/32")}}}}}
	must(c.AuthorizeSecurityGroupIngress(ctx, rule))(t)
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, rule); code(err) != "InvalidPermission.Duplicate" {
		t.Errorf("duplicate rule: %v", err)
	}
	groups := must(c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(sg.GroupId)}}))(t)
	if p := groups.SecurityGroups[0].IpPermissions; len(p) != 1 || aws.ToInt32(p[0].FromPort) != 22 || aws.ToString(p[0].IpRanges[0].CidrIp) != "127.0.0.1/32" {
		t.Errorf("ingress rules: %+v", p)
	}
}

func TestKeyPairs(t *testing.T) {
	f := New(Options{})
	endpoint := f.Start(t)
	ctx := context.Background()
	c := client(endpoint, "us-east-1")
	rsaKey := must(c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("r"), KeyType: types.KeyTypeRsa}))(t)
	if _, err := ssh.ParsePrivateKey([]byte(aws.ToString(rsaKey.KeyMaterial))); err != nil || !strings.Contains(aws.ToString(rsaKey.KeyMaterial), "BEGIN RSA PRIVATE KEY") {
		t.Errorf("rsa key material: %v", err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0dXy1hrKVc9xCqPVEbgSxa5CNnrbKb7oT7oLfQKhVX test"))
	if err != nil {
		t.Fatal(err)
	}
	imp := must(c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("i"), PublicKeyMaterial: ssh.MarshalAuthorizedKey(pub)}))(t)
	if aws.ToString(imp.KeyPairId) == "" || aws.ToString(imp.KeyFingerprint) == "" {
		t.Errorf("ImportKeyPair: %+v", imp)
	}
	keys := must(c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"i"}, IncludePublicKey: aws.Bool(true)}))(t)
	if len(keys.KeyPairs) != 1 || keys.KeyPairs[0].KeyType != types.KeyTypeEd25519 || !strings.HasPrefix(aws.ToString(keys.KeyPairs[0].PublicKey), "ssh-ed25519 ") {
		t.Errorf("DescribeKeyPairs: %+v", keys.KeyPairs)
	}
	must(c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyPairId: imp.KeyPairId}))(t)
	must(c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("r")}))(t)
	if left := f.Leftovers("", ""); len(left) != 0 {
		t.Errorf("leftovers: %v", left)
	}
}

// TestEndpointFromEnvironment reaches the fake the way the builder and
// cmd/fakeec2's users do: config.LoadDefaultConfig with
// AWS_ENDPOINT_URL_EC2.
func TestEndpointFromEnvironment(t *testing.T) {
	f := New(Options{})
	endpoint := f.Start(t)
	t.Setenv("AWS_ENDPOINT_URL_EC2", endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SECRET")
	t.Setenv("AWS_REGION", "eu-central-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := must(ec2.NewFromConfig(cfg).DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{f.SourceImageID("eu-central-1")}}))(t)
	if len(out.Images) != 1 {
		t.Fatalf("images: %+v", out.Images)
	}
}

// TestWireFormat checks the raw replies: namespace, request id and the
// error document.
func TestWireFormat(t *testing.T) {
	f := New(Options{AllowUnimplemented: true})
	endpoint := f.Start(t)
	post := func(form url.Values) (int, string) {
		req, _ := http.NewRequest("POST", endpoint, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-west-2/ec2/aws4_request, SignedHeaders=host, Signature=x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := post(url.Values{"Action": {"DescribeRegions"}, "Version": {APIVersion}, "RegionName.1": {"us-west-2"}})
	if status != 200 || !strings.Contains(body, `<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`) ||
		!strings.Contains(body, "<requestId>") || !strings.Contains(body, "<regionInfo><item><regionName>us-west-2</regionName>") {
		t.Errorf("DescribeRegions: %d %s", status, body)
	}
	status, body = post(url.Values{"Action": {"FlyToTheMoon"}, "Version": {APIVersion}})
	if status != 400 || !strings.Contains(body, "<Response><Errors><Error><Code>InvalidAction</Code><Message>") || !strings.Contains(body, "<RequestID>") {
		t.Errorf("unknown action: %d %s", status, body)
	}
}

// TestThrottleStatus: throttled calls are HTTP 503 RequestLimitExceeded,
// and an SDK client without retries sees them.
func TestThrottleStatus(t *testing.T) {
	f := New(Options{ThrottleRate: 1})
	endpoint := f.Start(t)
	c := ec2.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: client(endpoint, "us-east-1").Options().Credentials, RetryMaxAttempts: 1})
	if _, err := c.DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{}); code(err) != "RequestLimitExceeded" {
		t.Errorf("throttled call: %v", err)
	}
	if f.Throttled() != 1 || len(f.Calls()) != 0 {
		t.Errorf("throttled %d, calls %v", f.Throttled(), f.Calls())
	}
}

func TestStateTransitions(t *testing.T) {
	d := 150 * time.Millisecond
	f := New(Options{Delays: Delays{InstanceRunning: d, InstanceStopping: d, InstanceTerminating: d, ImageAvailable: d}})
	endpoint := f.Start(t)
	ctx := context.Background()
	c := client(endpoint, "us-east-1")
	state := func(id string) types.InstanceStateName {
		out := must(c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}))(t)
		return out.Reservations[0].Instances[0].State.Name
	}
	run := must(c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.SourceImageID("us-east-1")), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte("x")))}))(t)
	id := aws.ToString(run.Instances[0].InstanceId)
	if s := state(id); s != types.InstanceStateNamePending {
		t.Errorf("right after RunInstances: %s", s)
	}
	waitRunning(ctx, t, c, id)
	stop := must(c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}))(t)
	if sc := stop.StoppingInstances[0]; sc.PreviousState.Name != types.InstanceStateNameRunning || sc.CurrentState.Name != types.InstanceStateNameStopping {
		t.Errorf("StopInstances: %+v", sc)
	}
	waitStopped(ctx, t, c, id)
	if _, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	waitRunning(ctx, t, c, id)
	term := must(c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}))(t)
	if term.TerminatingInstances[0].CurrentState.Name != types.InstanceStateNameShuttingDown {
		t.Errorf("TerminateInstances: %+v", term.TerminatingInstances[0])
	}
	waitTerminated(ctx, t, c, id)
	if _, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); code(err) != "IncorrectInstanceState" {
		t.Errorf("stopping a terminated instance: %v", err)
	}
	if f.MutatingCalls() != 5 { // Run, Stop, Start, Terminate and the refused Stop
		t.Errorf("MutatingCalls = %d, calls %v", f.MutatingCalls(), f.Calls())
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"debian-12-amd64-*", "debian-12-amd64-pipe-fake", true},
		{"debian-12-arm64-*", "debian-12-amd64-pipe-fake", false},
		{"debian-1?-*", "debian-12-amd64", true},
		{"a.b", "axb", false},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{"*", "", true},
	} {
		if got := globMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}
