package amazontest

import (
	"strconv"
	"strings"
)

// The default VPC and subnet of each region, and security groups.

func (v *vpc) filterFields(r *region, owner string) map[string][]string {
	return map[string][]string{
		"vpc-id": one(v.id), "cidr": one(v.cidr), "cidr-block-association.cidr-block": one(v.cidr),
		"is-default": one("true"), "isDefault": one("true"), "state": one("available"),
		"owner-id": one(owner), "dhcp-options-id": one("dopt-default"),
	}
}

// describeVpcs: VpcId.N, Filter.
func (f *Fake) describeVpcs(c *call) (reply, error) {
	r := c.region
	fs := parseFilters(c.args)
	ff := r.vpc.filterFields(r, f.opts.AccountID)
	if err := checkFilters(fs, ff); err != nil {
		return nil, err
	}
	for _, id := range c.args.List("VpcId") {
		if id != r.vpc.id {
			return nil, errNotFound(id)
		}
	}
	out := &describeVpcsReply{}
	if matchFilters(fs, fields(ff), r.vpc.tags) {
		out.Vpcs = append(out.Vpcs, vpcXML{VpcID: r.vpc.id, OwnerID: f.opts.AccountID, State: "available",
			CidrBlock: r.vpc.cidr, DhcpOptionsID: "dopt-default", InstanceTenancy: "default", IsDefault: true,
			Tags: tagsXML(r.vpc.tags)})
	}
	return out, nil
}

func (s *subnet) filterFields(owner string) map[string][]string {
	return map[string][]string{
		"subnet-id": one(s.id), "vpc-id": one(s.vpcID), "cidr-block": one(s.cidr), "cidr": one(s.cidr),
		"availability-zone": one(s.az), "availabilityZone": one(s.az), "default-for-az": one("true"),
		"defaultForAz": one("true"), "state": one("available"), "owner-id": one(owner),
		"map-public-ip-on-launch": one("true"),
	}
}

// describeSubnets: SubnetId.N, Filter.
func (f *Fake) describeSubnets(c *call) (reply, error) {
	r := c.region
	fs := parseFilters(c.args)
	ff := r.subnet.filterFields(f.opts.AccountID)
	if err := checkFilters(fs, ff); err != nil {
		return nil, err
	}
	for _, id := range c.args.List("SubnetId") {
		if id != r.subnet.id {
			return nil, errNotFound(id)
		}
	}
	out := &describeSubnetsReply{}
	if matchFilters(fs, fields(ff), r.subnet.tags) {
		s := r.subnet
		out.Subnets = append(out.Subnets, subnetXML{SubnetID: s.id,
			SubnetArn: "arn:aws:ec2:" + r.name + ":" + f.opts.AccountID + ":subnet/" + s.id,
			State:     "available", OwnerID: f.opts.AccountID, VpcID: s.vpcID, CidrBlock: s.cidr,
			AvailableIPAddressCount: 4091, AvailabilityZone: s.az, AvailabilityZoneID: strings.ReplaceAll(s.az, "-", "") + "-az1",
			DefaultForAz: true, MapPublicIPOnLaunch: true, Tags: tagsXML(s.tags)})
	}
	return out, nil
}

var securityGroupFilters = (&securityGroup{}).filterFields("")

func (g *securityGroup) filterFields(owner string) map[string][]string {
	m := map[string][]string{
		"group-id": one(g.id), "group-name": one(g.name), "vpc-id": one(g.vpcID),
		"description": one(g.description), "owner-id": one(owner),
		"ip-permission.protocol": nil, "ip-permission.from-port": nil, "ip-permission.to-port": nil,
		"ip-permission.cidr": nil,
	}
	for _, p := range g.ingress {
		m["ip-permission.protocol"] = append(m["ip-permission.protocol"], p.protocol)
		m["ip-permission.from-port"] = append(m["ip-permission.from-port"], strconv.Itoa(p.fromPort))
		m["ip-permission.to-port"] = append(m["ip-permission.to-port"], strconv.Itoa(p.toPort))
		m["ip-permission.cidr"] = append(m["ip-permission.cidr"], p.cidrs...)
	}
	return m
}

func (f *Fake) securityGroupXML(r *region, g *securityGroup) securityGroupXML {
	x := securityGroupXML{OwnerID: f.opts.AccountID, GroupID: g.id, GroupName: g.name,
		GroupDescription: g.description, VpcID: g.vpcID,
		Arn:    "arn:aws:ec2:" + r.name + ":" + f.opts.AccountID + ":security-group/" + g.id,
		Egress: []ipPermissionXML{{IPProtocol: "-1", IPRanges: []ipRangeXML{{CidrIP: "0.0.0.0/0"}}}},
		Tags:   tagsXML(g.tags)}
	for _, p := range g.ingress {
		px := ipPermissionXML{IPProtocol: p.protocol}
		if p.protocol != "-1" {
			px.FromPort, px.ToPort = intPtr(p.fromPort), intPtr(p.toPort)
		}
		for _, cidr := range p.cidrs {
			px.IPRanges = append(px.IPRanges, ipRangeXML{CidrIP: cidr})
		}
		x.Ingress = append(x.Ingress, px)
	}
	return x
}

// describeSecurityGroups: GroupId.N, GroupName.N, Filter.
func (f *Fake) describeSecurityGroups(c *call) (reply, error) {
	r := c.region
	fs := parseFilters(c.args)
	if err := checkFilters(fs, securityGroupFilters); err != nil {
		return nil, err
	}
	ids, names := c.args.List("GroupId"), c.args.List("GroupName")
	for _, id := range ids {
		if _, ok := r.groups[id]; !ok || !r.seen(id) {
			return nil, errNotFound(id)
		}
	}
	for _, n := range names {
		found := false
		for _, g := range r.groups {
			found = found || g.name == n
		}
		if !found {
			return nil, errf("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", n, r.vpc.id)
		}
	}
	out := &describeSecurityGroupsReply{}
	for _, g := range sortedBySeq(r.groups, func(g *securityGroup) int64 { return g.seq }) {
		if len(ids) > 0 && !contains(ids, g.id) || len(names) > 0 && !contains(names, g.name) {
			continue
		}
		if !matchFilters(fs, fields(g.filterFields(f.opts.AccountID)), g.tags) {
			continue
		}
		if len(ids) == 0 && !r.seen(g.id) {
			continue
		}
		out.Groups = append(out.Groups, f.securityGroupXML(r, g))
	}
	return out, nil
}

// createSecurityGroup: GroupName, GroupDescription, VpcId,
// TagSpecification (security-group).
func (f *Fake) createSecurityGroup(c *call) (reply, error) {
	r, a := c.region, c.args
	name, desc := a.Str("GroupName"), a.Str("GroupDescription")
	if name == "" {
		return nil, errMissing("GroupName")
	}
	if desc == "" {
		return nil, errMissing("GroupDescription")
	}
	if strings.HasPrefix(name, "sg-") {
		return nil, errInvalid("Group names may not be in the format sg-*")
	}
	if err := validTagSpecTypes(a, "security-group"); err != nil {
		return nil, err
	}
	vpcID := a.Str("VpcId")
	if vpcID == "" {
		vpcID = r.vpc.id
	}
	if vpcID != r.vpc.id {
		return nil, errNotFound(vpcID)
	}
	for _, g := range r.groups {
		if g.name == name && g.vpcID == vpcID {
			return nil, errf("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vpcID)
		}
	}
	g := &securityGroup{seq: f.nextSeq(), id: f.newID("sg"), name: name, description: desc,
		vpcID: vpcID, tags: a.tagSpecs("security-group")}
	r.groups[g.id] = g
	f.hide(r, g.id)
	return &createSecurityGroupReply{Return: true, GroupID: g.id,
		Arn: "arn:aws:ec2:" + r.name + ":" + f.opts.AccountID + ":security-group/" + g.id, Tags: tagsXML(g.tags)}, nil
}

// groupByIDOrName finds the group of GroupId or GroupName.
func (r *region) groupByIDOrName(a args) (*securityGroup, *apiError) {
	if id := a.Str("GroupId"); id != "" {
		g, ok := r.groups[id]
		if !ok {
			return nil, errNotFound(id)
		}
		return g, nil
	}
	if name := a.Str("GroupName"); name != "" {
		for _, g := range r.groups {
			if g.name == name {
				return g, nil
			}
		}
		return nil, errf("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", name, r.vpc.id)
	}
	return nil, errMissing("GroupId")
}

// authorizeSecurityGroupIngress: GroupId|GroupName and either
// IpPermissions.N.{IpProtocol,FromPort,ToPort,IpRanges.M.CidrIp} or the
// flat IpProtocol, FromPort, ToPort, CidrIp.
func (f *Fake) authorizeSecurityGroupIngress(c *call) (reply, error) {
	r, a := c.region, c.args
	g, aerr := r.groupByIDOrName(a)
	if aerr != nil {
		return nil, aerr
	}
	var perms []ipPermission
	for _, p := range a.Structs("IpPermissions") {
		ip := ipPermission{protocol: p.Str("IpProtocol"), fromPort: p.Int("FromPort", -1), toPort: p.Int("ToPort", -1)}
		for _, rg := range p.Structs("IpRanges") {
			ip.cidrs = append(ip.cidrs, rg.Str("CidrIp"))
		}
		perms = append(perms, ip)
	}
	if a.Has("IpProtocol") {
		ip := ipPermission{protocol: a.Str("IpProtocol"), fromPort: a.Int("FromPort", -1), toPort: a.Int("ToPort", -1)}
		if cidr := a.Str("CidrIp"); cidr != "" {
			ip.cidrs = []string{cidr}
		}
		perms = append(perms, ip)
	}
	if len(perms) == 0 {
		return nil, errMissing("IpPermissions")
	}
	for _, p := range perms {
		switch p.protocol {
		case "tcp", "udp", "icmp", "-1", "6", "17", "1":
		default:
			return nil, errf("InvalidParameterValue", "Invalid value '%s' for IP protocol. Unknown protocol.", p.protocol)
		}
		for _, cidr := range p.cidrs {
			if !strings.Contains(cidr, "/") {
				return nil, errf("InvalidParameterValue", "CIDR block %s is malformed", cidr)
			}
			for _, have := range g.ingress {
				if have.protocol == p.protocol && have.fromPort == p.fromPort && have.toPort == p.toPort && contains(have.cidrs, cidr) {
					return nil, errf("InvalidPermission.Duplicate", "the specified rule \"peer: %s, %s, from port: %d, to port: %d, ALLOW\" already exists", cidr, strings.ToUpper(p.protocol), p.fromPort, p.toPort)
				}
			}
		}
	}
	g.ingress = append(g.ingress, perms...)
	return &returnReply{Return: true}, nil
}

// deleteSecurityGroup: GroupId|GroupName. Refuses the default group and a
// group an instance that is not terminated still uses (DependencyViolation,
// as EC2 does).
func (f *Fake) deleteSecurityGroup(c *call) (reply, error) {
	r := c.region
	g, aerr := r.groupByIDOrName(c.args)
	if aerr != nil {
		return nil, aerr
	}
	if g.isDefault {
		return nil, errf("CannotDelete", "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", g.id)
	}
	for _, in := range r.instances {
		if in.state != stateTerminated && contains(in.groupIDs, g.id) {
			return nil, errf("DependencyViolation", "resource %s has a dependent object", g.id)
		}
	}
	delete(r.groups, g.id)
	return &deleteSecurityGroupReply{Return: true, GroupID: g.id}, nil
}
