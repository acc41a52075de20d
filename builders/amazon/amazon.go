package amazon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/pipebuild/pipe/builders"
)

// Type is the builder's type name.
const Type = "amazon-ebs"

// Builder is the amazon-ebs builder.
type Builder struct {
	clients clients
	// regions caches DescribeRegions answers: region → known.
	regions sync.Map
}

var (
	_ builders.Builder   = (*Builder)(nil)
	_ builders.Exister   = (*Builder)(nil)
	_ builders.Publisher = (*Builder)(nil)
	_ builders.Cleaner   = (*Builder)(nil)
)

// New returns the amazon-ebs builder.
func New() *Builder { return &Builder{} }

// Type implements builders.Builder.
func (*Builder) Type() string { return Type }

// NewConfig implements builders.Builder.
func (*Builder) NewConfig() any { return &Config{} }

// NewSource implements builders.Builder.
func (*Builder) NewSource() any { return &Source{} }

// Prepare implements builders.Builder: the config and, for a root node,
// its source, with no calls to AWS.
func (*Builder) Prepare(spec *builders.Spec) error {
	c, ok := spec.Config.(*Config)
	if !ok {
		return fmt.Errorf("amazon-ebs: config is %T, want *amazon.Config", spec.Config)
	}
	err := c.validate()
	if spec.Root {
		src, _ := spec.Source.(*Source)
		err = errors.Join(err, src.validate())
	}
	return err
}

// client returns the EC2 client of region, after checking that the region
// exists (once per region).
func (b *Builder) client(ctx context.Context, region string) (ec2API, error) {
	c, err := b.clients.get(ctx, region)
	if err != nil {
		return nil, err
	}
	if _, ok := b.regions.Load(region); ok {
		return c, nil
	}
	out, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{RegionNames: []string{region}})
	if err != nil {
		var dns *net.DNSError
		switch {
		case apiCode(err) == "InvalidParameterValue":
			return nil, fmt.Errorf("unknown region %q: %w", region, err)
		case apiCode(err) == "AuthFailure", errors.As(err, &dns) && dns.IsNotFound:
			// A region that does not exist has no endpoint (real EC2);
			// one not enabled for the account (and the fake, for a region
			// it does not serve) refuses the credential scope. AuthFailure
			// also means credentials EC2 does not accept, so say both.
			if dns != nil {
				// No DNS name for the endpoint: a misspelt region, or no
				// network (or resolver) at all; the error cannot tell.
				return nil, fmt.Errorf("cannot reach EC2 in region %q (a misspelt region, or no network): %w", region, err)
			}
			return nil, fmt.Errorf("unknown region %q, not enabled for this account, or credentials not accepted there: %w", region, err)
		}
		return nil, fmt.Errorf("describe region %s: %w", region, err)
	}
	if len(out.Regions) == 0 {
		return nil, fmt.Errorf("unknown region %q", region)
	}
	b.regions.Store(region, true)
	return c, nil
}

// logf writes a progress line to w, if any.
func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// str dereferences an optional EC2 string.
func str(p *string) string { return aws.ToString(p) }
