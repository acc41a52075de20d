package ssh

import (
	"strings"
	"testing"

	"github.com/pipebuild/pipe/stages"
)

func TestCommandLineSudo(t *testing.T) {
	for _, tc := range []struct {
		user, want string
	}{
		{"", "exec /bin/sh -c "},
		{"admin", "exec /bin/sh -c "},
		{"root", "exec sudo -n -u 'root' -- /bin/sh -c "},
		{"1000", "exec sudo -n -u '#1000' -- /bin/sh -c "},
		{"1000:50", "exec sudo -n -u '#1000' -g '#50' -- /bin/sh -c "},
		{"www-data:adm", "exec sudo -n -u 'www-data' -g 'adm' -- /bin/sh -c "},
	} {
		r, err := commandLine(&stages.Cmd{Command: "id", User: tc.user}, "admin")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(r.line, tc.want) || !strings.HasPrefix(r.kill, tc.want) {
			t.Errorf("user %q: line %q, kill %q; want both to start %q", tc.user, r.line, r.kill, tc.want)
		}
	}
	for _, bad := range []string{":0", "0:"} {
		if _, err := commandLine(&stages.Cmd{Command: "id", User: bad}, "admin"); err == nil {
			t.Errorf("user %q: no error", bad)
		}
	}
}

// TestKillerUntagged checks that the killer's own command line does not
// carry the tag it looks for, or it would kill itself first.
func TestKillerUntagged(t *testing.T) {
	r, err := newRemote("", "", "sleep 1")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(r.line, "pipe-run-")
	tag := r.line[i : i+len("pipe-run-")+16]
	if strings.Contains(r.kill, tag) {
		t.Errorf("killer %q carries tag %s", r.kill, tag)
	}
	if !strings.Contains(r.kill, tag[len("pipe-run-"):]) {
		t.Errorf("killer %q does not look for %s", r.kill, tag)
	}
}

func TestExports(t *testing.T) {
	got, err := exports([]string{"A=x y", "B='", "C="})
	if want := `export A='x y'; export B=''\'''; export C=''; `; err != nil || got != want {
		t.Errorf("exports = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"A", "1A=x", "A-B=x", "=x"} {
		if _, err := exports([]string{bad}); err == nil {
			t.Errorf("exports(%q): no error", bad)
		}
	}
}
