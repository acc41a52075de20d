package stages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Retry runs a provisioner attempt with Packer's `timeout` and `max_retries`
// meta-arguments. It wraps the attempt rather than living inside each
// provisioner's logic, so every provisioner gets the same semantics.
type Retry struct {
	// MaxRetries is how many more times a failed attempt is re-run.
	MaxRetries int
	// Timeout bounds each attempt; zero means no bound.
	Timeout Duration
	// Log receives a line per failed attempt that will be retried; nil
	// discards them.
	Log io.Writer
}

// Do runs attempt once, and again up to r.MaxRetries times while it fails.
// A cancelled ctx is the run stopping, not a failure, so it is never
// retried. An attempt that exceeds r.Timeout fails with "timed out after …".
func (r Retry) Do(ctx context.Context, attempt func(ctx context.Context) error) error {
	for n := 0; ; n++ {
		err := r.once(ctx, attempt)
		if err == nil || ctx.Err() != nil || n >= r.MaxRetries {
			return err
		}
		if r.Log != nil {
			fmt.Fprintf(r.Log, "attempt %d of %d failed, retrying: %v\n", n+1, r.MaxRetries+1, err)
		}
	}
}

func (r Retry) once(ctx context.Context, attempt func(ctx context.Context) error) error {
	if r.Timeout <= 0 {
		return attempt(ctx)
	}
	actx, cancel := context.WithTimeoutCause(ctx, time.Duration(r.Timeout), &TimeoutError{After: r.Timeout})
	defer cancel()
	err := attempt(actx)
	if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		// Whatever the attempt reported (killed, broken pipe, deadline), the
		// cause is the timeout, and that is what the user must read.
		return context.Cause(actx)
	}
	return err
}

// TimeoutError reports that an attempt ran longer than its timeout.
type TimeoutError struct {
	// After is the timeout that was exceeded.
	After Duration
}

// Error renders "timed out after 5m".
func (e *TimeoutError) Error() string { return "timed out after " + e.After.String() }

// Unwrap makes errors.Is(err, context.DeadlineExceeded) hold.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }
