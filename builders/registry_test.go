package builders_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pipebuild/pipe/builders/all"
)

func TestRegistry(t *testing.T) {
	r := all.Registry()
	if diff := cmp.Diff([]string{"amazon-ebs", "local", "null"}, r.Types()); diff != "" {
		t.Errorf("Types (-want +got):\n%s", diff)
	}
	if b, ok := r.Lookup("null"); !ok || b.Type() != "null" {
		t.Errorf("Lookup(null) = %v, %v", b, ok)
	}
	if _, ok := r.Lookup("googlecompute"); ok {
		t.Error("Lookup(googlecompute) found something")
	}
}
