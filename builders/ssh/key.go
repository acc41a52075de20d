package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// GenerateKey returns a new ed25519 key for a temporary key pair (Packer's
// "ssh_temporary_key_pair"): the signer to log in with, and the public key
// as one authorized_keys line without a trailing newline, for user data or a
// cloud's key-pair import.
func GenerateKey() (signer ssh.Signer, authorizedKey string, err error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generate ssh key: %w", err)
	}
	signer, err = ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, "", fmt.Errorf("generate ssh key: %w", err)
	}
	line := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(signer.PublicKey())), "\n")
	return signer, line, nil
}
