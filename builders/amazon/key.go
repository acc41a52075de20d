package amazon

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/pipeline/cache"
)

// keyVersion changes when what the builder produces changes on purpose.
const keyVersion = "1"

// resolveTimeout bounds the calls Key makes to pin a source AMI.
const resolveTimeout = 2 * time.Minute

// Key implements builders.Builder. A root node's ami_filter is resolved
// with DescribeImages and pinned in spec.Source, so the launch boots
// exactly the AMI that was keyed. A node with an upstream is keyed by the
// upstream's OutputID, which the scheduler adds.
func (b *Builder) Key(spec *builders.Spec, k *cache.Key) error {
	c := spec.Config.(*Config)
	k.Add("amazon-ebs", "v"+keyVersion)
	k.Add("region", c.Region)
	regions := slices.Clone(c.AMIRegions)
	sort.Strings(regions)
	k.Add("ami_regions", strings.Join(regions, ","))
	k.Add("user_data", c.UserData)
	k.Add("launch_block_device_mappings", jsonString(c.LaunchBlockDeviceMappings))
	k.Add("ami_block_device_mappings", jsonString(c.AMIBlockDeviceMappings))
	k.Addf("encrypt_boot", "%t", c.EncryptBoot)
	k.Add("kms_key_id", c.KMSKeyID)
	if !spec.Root {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	src := spec.Source.(*Source)
	if err := b.pin(ctx, c.Region, src); err != nil {
		return err
	}
	k.Add("source.ami", src.AMI)
	return nil
}

// pin resolves src's ami_filter to an AMI id, kept in src.AMI. The filter
// stays, so that a pinned source still reads as what the user wrote.
func (b *Builder) pin(ctx context.Context, region string, src *Source) error {
	if src.AMI != "" {
		return nil
	}
	cl, err := b.client(ctx, region)
	if err != nil {
		return err
	}
	img, err := findSourceAMI(ctx, cl, src.AMIFilter)
	if err != nil {
		return err
	}
	src.AMI = str(img.ImageId)
	return nil
}

// findSourceAMI runs an ami_filter: no match, or several without
// most_recent, is an error.
func findSourceAMI(ctx context.Context, cl ec2API, f *AMIFilter) (*types.Image, error) {
	in := &ec2.DescribeImagesInput{Owners: f.Owners, Filters: filters(f.Filters)}
	if f.Name != "" {
		in.Filters = append(in.Filters, types.Filter{Name: aws.String("name"), Values: []string{f.Name}})
	}
	in.Filters = append(in.Filters, types.Filter{Name: aws.String("state"), Values: []string{"available"}})
	out, err := cl.DescribeImages(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("ami_filter %s: describe images: %w", f, err)
	}
	imgs := out.Images
	switch {
	case len(imgs) == 0:
		return nil, fmt.Errorf("ami_filter %s: no available AMI matches", f)
	case len(imgs) > 1 && !f.MostRecent:
		return nil, fmt.Errorf("ami_filter %s: %d AMIs match; narrow the filter or set most_recent: true", f, len(imgs))
	}
	sort.SliceStable(imgs, func(i, j int) bool { return str(imgs[i].CreationDate) > str(imgs[j].CreationDate) })
	return &imgs[0], nil
}

// String describes a filter in errors.
func (f *AMIFilter) String() string {
	s := fmt.Sprintf("name=%q owners=%v", f.Name, f.Owners)
	for _, k := range slices.Sorted(maps.Keys(f.Filters)) {
		s += fmt.Sprintf(" %s=%q", k, f.Filters[k])
	}
	return "{" + s + "}"
}

// filters turns a name → value map into EC2 filters, in name order.
func filters(m map[string]string) []types.Filter {
	var out []types.Filter
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, types.Filter{Name: aws.String(k), Values: []string{m[k]}})
	}
	return out
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
