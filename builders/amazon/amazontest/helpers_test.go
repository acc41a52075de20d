package amazontest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
)

// client returns a real SDK client for the fake at endpoint. Its retryer
// retries throttling up to 10 times with millisecond backoff, the way a
// builder configures max_retries.
func client(endpoint, region string) *ec2.Client {
	return ec2.NewFromConfig(aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 10
				o.MaxBackoff = 20 * time.Millisecond
				o.RateLimiter = ratelimit.None
			})
		},
	})
}

// Fast waiter options.
const (
	minDelay = 20 * time.Millisecond
	maxDelay = 100 * time.Millisecond
	maxWait  = 30 * time.Second
)

func waitRunning(ctx context.Context, t *testing.T, c *ec2.Client, id string) {
	t.Helper()
	w := ec2.NewInstanceRunningWaiter(c, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = minDelay, maxDelay })
	if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, maxWait); err != nil {
		t.Fatalf("InstanceRunning waiter for %s: %v", id, err)
	}
}

func waitStopped(ctx context.Context, t *testing.T, c *ec2.Client, id string) {
	t.Helper()
	w := ec2.NewInstanceStoppedWaiter(c, func(o *ec2.InstanceStoppedWaiterOptions) { o.MinDelay, o.MaxDelay = minDelay, maxDelay })
	if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, maxWait); err != nil {
		t.Fatalf("InstanceStopped waiter for %s: %v", id, err)
	}
}

func waitTerminated(ctx context.Context, t *testing.T, c *ec2.Client, id string) {
	t.Helper()
	w := ec2.NewInstanceTerminatedWaiter(c, func(o *ec2.InstanceTerminatedWaiterOptions) { o.MinDelay, o.MaxDelay = minDelay, maxDelay })
	if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, maxWait); err != nil {
		t.Fatalf("InstanceTerminated waiter for %s: %v", id, err)
	}
}

func waitImage(ctx context.Context, t *testing.T, c *ec2.Client, id string) {
	t.Helper()
	w := ec2.NewImageAvailableWaiter(c, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = minDelay, maxDelay })
	if err := w.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}}, maxWait); err != nil {
		t.Fatalf("ImageAvailable waiter for %s: %v", id, err)
	}
}

// code is the EC2 error code of err, or "".
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// must(call(…))(t) returns call's value, failing t on its error.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
