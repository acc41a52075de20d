package image

import (
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Environment variables that give registry credentials, for CI systems
// that hold secrets in the environment rather than in a Docker config.
const (
	EnvRegistryUsername = "PIPE_REGISTRY_USERNAME"
	EnvRegistryPassword = "PIPE_REGISTRY_PASSWORD"
)

// Keychain returns the credentials pipe uses for registries: the user name
// and password in PIPE_REGISTRY_USERNAME and PIPE_REGISTRY_PASSWORD when
// both are set, else ~/.docker/config.json and its credential helpers.
func Keychain() authn.Keychain {
	return authn.NewMultiKeychain(envKeychain{}, authn.DefaultKeychain)
}

// envKeychain resolves every registry to the environment's credentials.
type envKeychain struct{}

func (envKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	user, pass := os.Getenv(EnvRegistryUsername), os.Getenv(EnvRegistryPassword)
	if user == "" || pass == "" {
		return authn.Anonymous, nil
	}
	return &authn.Basic{Username: user, Password: pass}, nil
}
