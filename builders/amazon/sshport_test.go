package amazon

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestFakeSSHPortEnv: PIPE_FAKE_EC2_SSH_PORT_TAG applies only with a
// loopback EC2 endpoint and a loopback instance address.
func TestFakeSSHPortEnv(t *testing.T) {
	bd := &build{instance: &types.Instance{Tags: []types.Tag{{Key: aws.String(fakeSSHPortTag), Value: aws.String("2222")}}}}
	for _, tt := range []struct {
		env, endpoint, host string
		want                int
	}{
		{"1", "http://127.0.0.1:4566", "127.0.0.1", 2222},
		{"1", "http://localhost:4566", "127.0.0.1", 2222},
		{"", "http://127.0.0.1:4566", "127.0.0.1", 0},
		{"1", "", "127.0.0.1", 0},
		{"1", "https://ec2.us-east-1.amazonaws.com", "127.0.0.1", 0},
		{"1", "http://127.0.0.1:4566", "203.0.113.7", 0},
	} {
		t.Setenv(FakeSSHPortEnv, tt.env)
		t.Setenv("AWS_ENDPOINT_URL", "")
		t.Setenv("AWS_ENDPOINT_URL_EC2", tt.endpoint)
		if got := bd.fakeTagPort(tt.host); got != tt.want {
			t.Errorf("env %q endpoint %q host %s: port %d, want %d", tt.env, tt.endpoint, tt.host, got, tt.want)
		}
	}
}
