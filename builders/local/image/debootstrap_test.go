package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDebootstrap runs the real mmdebstrap (about 15 s and 170 MB), so only
// when PIPE_SLOW=1 or PIPE_REQUIRE_INTEGRATION=1.
func TestDebootstrap(t *testing.T) {
	if os.Getenv("PIPE_SLOW") != "1" && os.Getenv("PIPE_REQUIRE_INTEGRATION") != "1" {
		t.Skip("runs mmdebstrap for ~15 s: set PIPE_SLOW=1")
	}
	requireTool(t, "mmdebstrap", "mmdebstrap")
	s := openStore(t)
	var log strings.Builder
	opts := ResolveOptions{SourceDateEpoch: testEpoch, Log: &log}
	src := Debootstrap{Suite: "bookworm"}
	start := time.Now()
	base, err := src.Resolve(context.Background(), s, opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("resolved %s in %v", base.Digest, time.Since(start))
	lowers, err := s.Lowers(context.Background(), base.Image)
	if err != nil || len(lowers) != 1 {
		t.Fatalf("Lowers = %q, %v", lowers, err)
	}
	for _, p := range []string{"usr/bin/apt-get", "etc/debian_version", "dev/null"} {
		if _, err := os.Lstat(filepath.Join(lowers[0], p)); err != nil {
			t.Error(err)
		}
	}
	// With mmdebstrap gone from PATH, only the source cache can answer.
	t.Setenv("PATH", t.TempDir())
	again, err := src.Resolve(context.Background(), s, opts)
	if err != nil {
		t.Fatalf("second resolve ran mmdebstrap: %v", err)
	}
	if again.Digest != base.Digest {
		t.Errorf("second resolve gave %s, want %s", again.Digest, base.Digest)
	}
}
