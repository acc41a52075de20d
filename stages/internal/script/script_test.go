package script

import (
	"os/exec"
	"testing"
)

func TestQuoteValueRoundTrips(t *testing.T) {
	for _, v := range []string{"", "plain", "it's", `"double"`, "a  b", "$(id) `id` $HOME", "'", "''", "new\nline", `back\slash`} {
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+QuoteValue(v)).Output()
		if err != nil || string(out) != v {
			t.Errorf("QuoteValue(%q) through sh = %q, %v", v, out, err)
		}
	}
}

func TestInline(t *testing.T) {
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{[]string{"a", "b"}, "#!/bin/sh -e\na\nb\n"},
		{[]string{"#!/bin/bash", "a"}, "#!/bin/bash\na\n"},
	} {
		if got := Inline(DefaultShebang, tc.lines); got != tc.want {
			t.Errorf("Inline(%q) = %q, want %q", tc.lines, got, tc.want)
		}
	}
}

func TestEnvOrder(t *testing.T) {
	got, err := Env(map[string]string{"B": "2", "A": "1"}, []string{"Z=26", "A=0"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Z=26", "A=0", "A=1", "B=2"}
	if len(got) != len(want) {
		t.Fatalf("Env = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Env = %q, want %q", got, want)
		}
	}
	if q := Quote(got); q != "Z='26' A='0' A='1' B='2'" {
		t.Errorf("Quote = %q", q)
	}
}
