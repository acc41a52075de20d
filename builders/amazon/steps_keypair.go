package amazon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"

	pipessh "github.com/pipebuild/pipe/builders/ssh"
)

// sourceAMI finds the AMI to boot: the upstream node's AMI in this region,
// or the root node's source (pinned by Key, or resolved now).
func (bd *build) sourceAMI(ctx context.Context) error {
	id, err := bd.sourceAMIID(ctx)
	if err != nil {
		return err
	}
	out, err := bd.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil {
		return fmt.Errorf("source ami %s: %w", id, err)
	}
	if len(out.Images) == 0 || out.Images[0].State != types.ImageStateAvailable {
		return fmt.Errorf("source ami %s is not available in %s", id, bd.cfg.Region)
	}
	bd.source = &out.Images[0]
	return nil
}

func (bd *build) sourceAMIID(ctx context.Context) (string, error) {
	if !bd.spec.Root {
		up := bd.spec.Upstream
		if up == nil {
			return "", errors.New("no upstream artifact")
		}
		id := up.Data[amiKey(bd.cfg.Region)]
		if id == "" {
			return "", fmt.Errorf("upstream artifact %s has no AMI in %s", up.ID, bd.cfg.Region)
		}
		return id, nil
	}
	src := bd.spec.Source.(*Source)
	if err := bd.b.pin(ctx, bd.cfg.Region, src); err != nil {
		return "", err
	}
	return src.AMI, nil
}

// keyPair imports a temporary ed25519 key pair, or loads the configured
// one's private key.
func (bd *build) keyPair(ctx context.Context) error {
	if bd.cfg.SSHKeypairName != "" {
		return bd.loadKey()
	}
	signer, pub, err := pipessh.GenerateKey()
	if err != nil {
		return err
	}
	bd.signer, bd.keyName = signer, bd.name
	r := bd.resource(bd.cfg.Region, "key-pair", bd.name, "")
	if err := bd.record(r); err != nil {
		return err
	}
	bd.undo.Push("delete key pair "+bd.name, func(ctx context.Context) error {
		if err := deleteKeyPair(ctx, bd.ec2, bd.name); err != nil {
			return err
		}
		bd.forget(r)
		return nil
	})
	out, err := bd.ec2.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{
		KeyName: aws.String(bd.name), PublicKeyMaterial: []byte(pub),
		TagSpecifications: tagSpecs(bd.tags(nil), types.ResourceTypeKeyPair),
	})
	if err != nil {
		return fmt.Errorf("import key pair %s: %w", bd.name, err)
	}
	r.ID = str(out.KeyPairId)
	return bd.record(r)
}

func (bd *build) loadKey() error {
	p := bd.cfg.SSHPrivateKeyFile
	if !filepath.IsAbs(p) {
		p = filepath.Join(bd.spec.Dir, p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("ssh_private_key_file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return fmt.Errorf("ssh_private_key_file %s: %w", p, err)
	}
	bd.signer, bd.keyName = signer, bd.cfg.SSHKeypairName
	return nil
}

// deleteKeyPair deletes a key pair by name; a missing one is not an error.
func deleteKeyPair(ctx context.Context, cl ec2API, name string) error {
	_, err := cl.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(name)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete key pair %s: %w", name, err)
	}
	return nil
}
