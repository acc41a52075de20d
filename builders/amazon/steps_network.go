package amazon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// sgDeleteTimeout bounds retrying DeleteSecurityGroup while a terminated
// instance still holds the group (DependencyViolation).
const sgDeleteTimeout = 5 * time.Minute

// network resolves the subnet, the VPC and existing security groups from
// ids or filters. Nothing set means the region's default VPC.
func (bd *build) network(ctx context.Context) error {
	c := bd.cfg
	bd.subnetID = c.SubnetID
	if c.SubnetFilter != nil {
		out, err := bd.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: filters(c.SubnetFilter.Filters)})
		if err != nil {
			return fmt.Errorf("subnet_filter: %w", err)
		}
		var best *types.Subnet
		for i, s := range out.Subnets {
			if best == nil || aws.ToInt32(s.AvailableIpAddressCount) > aws.ToInt32(best.AvailableIpAddressCount) {
				best = &out.Subnets[i]
			}
		}
		if best == nil {
			return errors.New("subnet_filter matches no subnet")
		}
		bd.subnetID = str(best.SubnetId)
	}
	if c.SecurityGroupID != "" {
		bd.sgIDs = append(bd.sgIDs, c.SecurityGroupID)
	}
	bd.sgIDs = append(bd.sgIDs, c.SecurityGroupIDs...)
	if c.SecurityGroupFilter != nil {
		out, err := bd.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: filters(c.SecurityGroupFilter.Filters)})
		if err != nil {
			return fmt.Errorf("security_group_filter: %w", err)
		}
		if len(out.SecurityGroups) == 0 {
			return errors.New("security_group_filter matches no security group")
		}
		for _, g := range out.SecurityGroups {
			bd.sgIDs = append(bd.sgIDs, str(g.GroupId))
		}
	}
	return nil
}

// vpcID is the VPC of the temporary security group: vpc_id, vpc_filter,
// the subnet's VPC, or "" for the default VPC.
func (bd *build) vpcID(ctx context.Context) (string, error) {
	c := bd.cfg
	switch {
	case c.VPCID != "":
		return c.VPCID, nil
	case c.VPCFilter != nil:
		out, err := bd.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: filters(c.VPCFilter.Filters)})
		if err != nil {
			return "", fmt.Errorf("vpc_filter: %w", err)
		}
		if len(out.Vpcs) != 1 {
			return "", fmt.Errorf("vpc_filter matches %d VPCs, want exactly one", len(out.Vpcs))
		}
		return str(out.Vpcs[0].VpcId), nil
	case bd.subnetID != "":
		out, err := bd.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{bd.subnetID}})
		if err != nil {
			return "", fmt.Errorf("subnet %s: %w", bd.subnetID, err)
		}
		if len(out.Subnets) == 0 {
			return "", fmt.Errorf("subnet %s not found", bd.subnetID)
		}
		return str(out.Subnets[0].VpcId), nil
	}
	return "", nil
}

// securityGroup creates a temporary security group that opens only the SSH
// port to the configured ranges, unless existing groups are given.
func (bd *build) securityGroup(ctx context.Context) error {
	if !bd.cfg.usesTemporarySG() {
		return nil
	}
	vpc, err := bd.vpcID(ctx)
	if err != nil {
		return err
	}
	r := bd.resource(bd.cfg.Region, "security-group", bd.name, "")
	if err := bd.record(r); err != nil {
		return err
	}
	var id string
	bd.undo.Push("delete security group "+bd.name, func(ctx context.Context) error {
		if err := deleteSecurityGroup(ctx, bd.ec2, bd.w, id, bd.name); err != nil {
			return err
		}
		bd.forget(r)
		return nil
	})
	in := &ec2.CreateSecurityGroupInput{GroupName: aws.String(bd.name),
		Description:       aws.String("pipe temporary SSH access for " + bd.spec.Node),
		TagSpecifications: tagSpecs(bd.tags(nil), types.ResourceTypeSecurityGroup)}
	if vpc != "" {
		in.VpcId = aws.String(vpc)
	}
	out, err := bd.ec2.CreateSecurityGroup(ctx, in)
	if err != nil {
		return fmt.Errorf("create security group %s: %w", bd.name, err)
	}
	id = str(out.GroupId)
	r.ID = id
	if err := bd.record(r); err != nil {
		return err
	}
	bd.sgIDs = []string{id}
	return bd.authorize(ctx, id)
}

// authorize opens the SSH port of group id to the source ranges, retrying
// the NotFound of a group EC2 does not show yet.
func (bd *build) authorize(ctx context.Context, id string) error {
	port := int32(bd.cfg.sshPort())
	perm := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port)}
	for _, cidr := range bd.cfg.sourceCIDRs() {
		perm.IpRanges = append(perm.IpRanges, types.IpRange{CidrIp: aws.String(cidr), Description: aws.String("pipe ssh")})
	}
	return bd.w.wait(ctx, "ingress rule of security group "+id, time.Minute, func(ctx context.Context) (bool, error) {
		_, err := bd.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
			GroupId: aws.String(id), IpPermissions: []types.IpPermission{perm}})
		if apiCode(err) == "InvalidPermission.Duplicate" {
			return true, nil
		}
		return err == nil, err
	})
}

// deleteSecurityGroup deletes a group by id, or by name when its create
// call never returned, retrying while an instance still holds it.
func deleteSecurityGroup(ctx context.Context, cl ec2API, w *waiter, id, name string) error {
	if id == "" {
		found, err := findSecurityGroup(ctx, cl, name)
		if err != nil || found == "" {
			return err
		}
		id = found
	}
	return w.wait(ctx, "deletion of security group "+id, sgDeleteTimeout, func(ctx context.Context) (bool, error) {
		_, err := cl.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)})
		switch {
		case err == nil, isNotFound(err):
			return true, nil
		case apiCode(err) == "DependencyViolation":
			return false, nil
		}
		return false, stop(fmt.Errorf("delete security group %s: %w", id, err))
	})
}

// findSecurityGroup returns the id of the group named name, or "".
func findSecurityGroup(ctx context.Context, cl ec2API, name string) (string, error) {
	out, err := cl.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{name}}}})
	if err != nil {
		return "", fmt.Errorf("find security group %s: %w", name, err)
	}
	if len(out.SecurityGroups) == 0 {
		return "", nil
	}
	return str(out.SecurityGroups[0].GroupId), nil
}
