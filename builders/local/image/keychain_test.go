package image

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestKeychainFromEnvironment(t *testing.T) {
	reg, err := name.NewRegistry("registry.example.com")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvRegistryUsername, "ci")
	t.Setenv(EnvRegistryPassword, "token-123")
	a, err := Keychain().Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Username != "ci" || cfg.Password != "token-123" {
		t.Errorf("credentials = %q/%q, want ci/token-123", cfg.Username, cfg.Password)
	}
	// Without both variables, the Docker config decides (here: anonymous).
	t.Setenv(EnvRegistryPassword, "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	a, err = Keychain().Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	if a != authn.Anonymous {
		t.Errorf("without the password: %v, want anonymous", a)
	}
}
