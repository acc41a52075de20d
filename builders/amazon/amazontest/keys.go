package amazontest

import (
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// newKeyPair generates a key pair of keyType ("ed25519" or "rsa") and
// returns the private key as EC2 returns it (OpenSSH format for ed25519,
// PKCS#1 PEM for rsa), the public key as an authorized_keys line and EC2's
// fingerprint.
func newKeyPair(keyType string) (material string, authorized []byte, fingerprint string, err error) {
	switch keyType {
	case "ed25519":
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return "", nil, "", err
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			return "", nil, "", err
		}
		sshPub, err := ssh.NewPublicKey(pub)
		if err != nil {
			return "", nil, "", err
		}
		return string(pem.EncodeToMemory(block)), ssh.MarshalAuthorizedKey(sshPub), sha256Fingerprint(sshPub), nil
	case "rsa":
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return "", nil, "", err
		}
		sshPub, err := ssh.NewPublicKey(&priv.PublicKey)
		if err != nil {
			return "", nil, "", err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return "", nil, "", err
		}
		// EC2's fingerprint of a key it created: SHA-1 of the PKCS#8 DER.
		sum := sha1.Sum(der)
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
		return string(pemBytes), ssh.MarshalAuthorizedKey(sshPub), colonHex(sum[:]), nil
	}
	return "", nil, "", fmt.Errorf("unknown key type %q", keyType)
}

// importedKey parses ImportKeyPair's PublicKeyMaterial (an OpenSSH public
// key line; the SDK base64-encodes the blob on the wire).
func importedKey(material string) (keyType string, authorized []byte, fingerprint string, err error) {
	raw := []byte(material)
	if dec, derr := base64.StdEncoding.DecodeString(material); derr == nil {
		raw = dec
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(raw)
	if err != nil {
		return "", nil, "", err
	}
	switch pub.Type() {
	case ssh.KeyAlgoED25519:
		return "ed25519", ssh.MarshalAuthorizedKey(pub), sha256Fingerprint(pub), nil
	case ssh.KeyAlgoRSA:
		// EC2's fingerprint of an imported RSA key: MD5 of the public key.
		sum := md5.Sum(pub.Marshal())
		return "rsa", ssh.MarshalAuthorizedKey(pub), colonHex(sum[:]), nil
	}
	return "", nil, "", fmt.Errorf("unsupported key type %s", pub.Type())
}

func sha256Fingerprint(pub ssh.PublicKey) string {
	sum := sha256.Sum256(pub.Marshal())
	return base64.StdEncoding.EncodeToString(sum[:])
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ":")
}
