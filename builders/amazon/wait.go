package amazon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/smithy-go"
)

// Poll delay bounds: a wait polls about every tenth of the time it has
// already waited, so it overshoots the true wait by about 10% while making
// few calls, and never waits less than minDelay or more than maxDelay
// between polls (both times aws_polling.scale).
const (
	minDelay = time.Second
	maxDelay = 15 * time.Second
	// notFoundGrace is how long a NotFound is taken for EC2's eventual
	// consistency rather than for a resource that is gone.
	notFoundGrace = 2 * time.Minute
)

// pollDelay is the delay before the next poll after waited: a tenth of
// waited, within minDelay and maxDelay times scale. Only the bounds are
// scaled, so that waits whose lengths are scaled like the bounds (a fake
// EC2 at 1/10 of real delays, aws_polling.scale 0.1) poll as often, and
// overshoot by the same fraction, as real ones at scale 1.
func pollDelay(waited time.Duration, scale float64) time.Duration {
	lo, hi := time.Duration(float64(minDelay)*scale), time.Duration(float64(maxDelay)*scale)
	return min(max(waited/10, lo), hi)
}

// errStop ends a wait with the error it wraps, without retrying.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }
func (e errStop) Unwrap() error { return e.err }

// stop makes a poll error final.
func stop(err error) error { return errStop{err} }

// waiter polls until a condition holds.
type waiter struct {
	scale float64
	// now and sleep are replaced by unit tests.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

func newWaiter(scale float64) *waiter {
	return &waiter{scale: scale, now: time.Now, sleep: sleepCtx}
}

// wait calls poll until it reports done, it returns a final error, or
// timeout passes. NotFound errors within notFoundGrace and throttling are
// retried; the last of them is named when the wait times out.
func (w *waiter) wait(ctx context.Context, what string, timeout time.Duration, poll func(context.Context) (bool, error)) error {
	start := w.now()
	var last error
	for {
		done, err := poll(ctx)
		waited := w.now().Sub(start)
		switch {
		case err == nil && done:
			return nil
		case err != nil && !retryable(err, waited):
			return fmt.Errorf("wait for %s: %w", what, err)
		case err != nil:
			last = err
		}
		if waited >= timeout {
			if last != nil {
				return fmt.Errorf("wait for %s: timed out after %s (last error: %w)", what, timeout, last)
			}
			return fmt.Errorf("wait for %s: timed out after %s", what, timeout)
		}
		d := min(pollDelay(waited, w.scale), timeout-waited)
		if isThrottle(err) {
			d += time.Duration(rand.Int64N(int64(d) + 1)) // jitter
		}
		if err := w.sleep(ctx, d); err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
	}
}

func retryable(err error, waited time.Duration) bool {
	var s errStop
	if errors.As(err, &s) {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return isThrottle(err) || (isNotFound(err) && waited < notFoundGrace)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// apiCode is the EC2 error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isNotFound(err error) bool {
	c := apiCode(err)
	return strings.HasSuffix(c, ".NotFound") || strings.HasSuffix(c, ".Unavailable") && strings.HasPrefix(c, "InvalidAMIID")
}

func isThrottle(err error) bool {
	switch apiCode(err) {
	case "RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled":
		return true
	}
	return false
}
