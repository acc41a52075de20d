package stages_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pipebuild/pipe/stages"
	"github.com/pipebuild/pipe/stages/all"
)

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		str     string
		wantErr bool
	}{
		{"5m", 5 * time.Minute, "5m", false},
		{"1h30m", 90 * time.Minute, "1h30m", false},
		{"2h", 2 * time.Hour, "2h", false},
		{"90s", 90 * time.Second, "1m30s", false},
		{"250ms", 250 * time.Millisecond, "250ms", false},
		{"", 0, "0s", false},
		{"5", 0, "", true},
		{"-1m", 0, "", true},
	} {
		var d stages.Duration
		err := d.UnmarshalText([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("UnmarshalText(%q) err = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && (time.Duration(d) != tc.want || d.String() != tc.str) {
			t.Errorf("UnmarshalText(%q) = %v (%s), want %v (%s)", tc.in, time.Duration(d), d, tc.want, tc.str)
		}
	}
}

func TestRetry(t *testing.T) {
	fail := errors.New("boom")
	for _, tc := range []struct {
		name      string
		retries   int
		failFirst int // attempts that fail before one succeeds
		wantCalls int
		wantErr   bool
	}{
		{"success", 2, 0, 1, false},
		{"retried to success", 2, 2, 3, false},
		{"retries exhausted", 1, 5, 2, true},
		{"no retries", 0, 1, 1, true},
	} {
		calls := 0
		err := stages.Retry{MaxRetries: tc.retries}.Do(context.Background(), func(context.Context) error {
			calls++
			if calls <= tc.failFirst {
				return fail
			}
			return nil
		})
		if calls != tc.wantCalls || (err != nil) != tc.wantErr {
			t.Errorf("%s: calls = %d, err = %v; want %d calls, error %v", tc.name, calls, err, tc.wantCalls, tc.wantErr)
		}
	}
}

func TestRetryTimeoutAndCancel(t *testing.T) {
	calls := 0
	wait := func(ctx context.Context) error { calls++; <-ctx.Done(); return ctx.Err() }
	r := stages.Retry{MaxRetries: 1, Timeout: stages.Duration(10 * time.Millisecond)}
	err := r.Do(context.Background(), wait)
	if err == nil || err.Error() != "timed out after 10ms" || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout err = %v", err)
	}
	if calls != 2 {
		t.Errorf("timed-out attempts = %d, want 2 (timeouts are retried)", calls)
	}

	calls = 0
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = stages.Retry{MaxRetries: 3}.Do(ctx, wait)
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("cancelled: calls = %d, err = %v; want 1 call, context.Canceled", calls, err)
	}
}

func TestRegistry(t *testing.T) {
	r := all.Registry()
	if diff := cmp.Diff([]string{"file", "shell", "shell-local"}, r.Types()); diff != "" {
		t.Errorf("Types (-want +got):\n%s", diff)
	}
	for _, typ := range r.Types() {
		p, ok := r.Lookup(typ)
		if !ok || p.Type() != typ {
			t.Errorf("Lookup(%q) = %v, %v", typ, p, ok)
		}
	}
	if _, ok := r.Lookup("ansible"); ok {
		t.Error("Lookup(ansible) found something")
	}
	defer func() {
		if msg, _ := recover().(string); !strings.Contains(msg, `"shell" registered twice`) {
			t.Errorf("duplicate type: recover() = %q", msg)
		}
	}()
	p, _ := r.Lookup("shell")
	stages.NewRegistry(p, p)
}
