package amazon

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"time"

	"github.com/pipebuild/pipe/stages"
)

// Defaults of the options that have one.
const (
	defaultSSHPort         = 22
	defaultSSHTimeout      = 5 * time.Minute
	defaultMaxLifetime     = 4 * time.Hour
	defaultRunningTimeout  = 10 * time.Minute
	defaultStopTimeout     = 10 * time.Minute
	defaultAMITimeout      = 30 * time.Minute
	defaultTerminateTimout = 10 * time.Minute
)

// Config is a `type: amazon-ebs` builder entry. Option names are Packer's.
type Config struct {
	// Region is the build region, e.g. us-east-1.
	Region string `yaml:"region"`
	// InstanceType of the build instance, e.g. t3.small.
	InstanceType string `yaml:"instance_type"`
	// AMIName is a prefix: the AMI is named AMIName-<first 12 hex digits of
	// the node's action id>, since AMI names cannot be reused.
	AMIName string `yaml:"ami_name"`
	// AMIDescription is the AMI's description.
	AMIDescription string `yaml:"ami_description"`
	// UserData is passed to the instance at launch (not base64-encoded).
	UserData string `yaml:"user_data"`

	// SubnetID is the subnet to launch in.
	SubnetID string `yaml:"subnet_id"`
	// SubnetFilter picks a subnet by filters: the one with the most free
	// addresses.
	SubnetFilter *Filter `yaml:"subnet_filter"`
	// VPCID is the VPC of the temporary security group.
	VPCID string `yaml:"vpc_id"`
	// VPCFilter picks a VPC by filters; exactly one must match.
	VPCFilter *Filter `yaml:"vpc_filter"`
	// SecurityGroupID is an existing security group to use instead of a
	// temporary one.
	SecurityGroupID string `yaml:"security_group_id"`
	// SecurityGroupIDs are existing security groups to use instead of a
	// temporary one.
	SecurityGroupIDs []string `yaml:"security_group_ids"`
	// SecurityGroupFilter picks existing security groups by filters.
	SecurityGroupFilter *Filter `yaml:"security_group_filter"`
	// AssociatePublicIPAddress gives the instance a public address (true)
	// or none (false); unset keeps the subnet's default.
	AssociatePublicIPAddress *bool `yaml:"associate_public_ip_address"`
	// IAMInstanceProfile is the instance profile name of the instance.
	IAMInstanceProfile string `yaml:"iam_instance_profile"`

	// LaunchBlockDeviceMappings are the instance's block devices at launch.
	LaunchBlockDeviceMappings []BlockDevice `yaml:"launch_block_device_mappings"`
	// AMIBlockDeviceMappings are block devices added to the AMI.
	AMIBlockDeviceMappings []BlockDevice `yaml:"ami_block_device_mappings"`
	// EncryptBoot encrypts the AMI's boot volume (set at launch).
	EncryptBoot bool `yaml:"encrypt_boot"`
	// KMSKeyID is the KMS key for EncryptBoot and for region copies.
	KMSKeyID string `yaml:"kms_key_id"`

	// Tags are set on the AMI (and its copies).
	Tags map[string]string `yaml:"tags"`
	// RunTags are set on the build instance and its volumes.
	RunTags map[string]string `yaml:"run_tags"`
	// SnapshotTags are set on the AMI's snapshots.
	SnapshotTags map[string]string `yaml:"snapshot_tags"`
	// AMIUsers are account ids given launch permission.
	AMIUsers []string `yaml:"ami_users"`
	// AMIRegions are regions the AMI is copied to, in parallel, as part of
	// the build.
	AMIRegions []string `yaml:"ami_regions"`

	// SSHUsername is the login user (required).
	SSHUsername string `yaml:"ssh_username"`
	// SSHPort is the SSH port. Default 22.
	SSHPort int `yaml:"ssh_port"`
	// SSHInterface is the address to connect to: public_ip (the default
	// when the instance has one), private_ip, public_dns or private_dns.
	SSHInterface string `yaml:"ssh_interface"`
	// SSHTimeout bounds waiting for SSH. Default 5m.
	SSHTimeout stages.Duration `yaml:"ssh_timeout"`
	// SSHKeypairName is an existing key pair to launch with; it needs
	// SSHPrivateKeyFile. Without it a temporary ed25519 key pair is used.
	SSHKeypairName string `yaml:"ssh_keypair_name"`
	// SSHPrivateKeyFile is the private key of SSHKeypairName, relative to
	// the pipeline file.
	SSHPrivateKeyFile string `yaml:"ssh_private_key_file"`
	// TemporarySecurityGroupSourceCIDRs may reach the SSH port through the
	// temporary security group. Required unless ssh_interface is
	// private_ip or private_dns (then the subnet's CIDR is not known
	// offline either, so it defaults to 10.0.0.0/8, 172.16.0.0/12 and
	// 192.168.0.0/16). 0.0.0.0/0 is used only when listed.
	TemporarySecurityGroupSourceCIDRs []string `yaml:"temporary_security_group_source_cidrs"`

	// MaxLifetime shuts the instance down (and so terminates it) this long
	// after SSH connects, even if pipe is killed. Default 4h.
	MaxLifetime stages.Duration `yaml:"max_lifetime"`
	// AWSPolling tunes waits.
	AWSPolling Polling `yaml:"aws_polling"`
	// InstanceRunningTimeout bounds waiting for the instance to run.
	// Default 10m.
	InstanceRunningTimeout stages.Duration `yaml:"instance_running_timeout"`
	// InstanceStopTimeout bounds waiting for the instance to stop (and to
	// terminate, at clean-up). Default 10m.
	InstanceStopTimeout stages.Duration `yaml:"instance_stop_timeout"`
	// AMIAvailableTimeout bounds waiting for an AMI or a copy to become
	// available. Default 30m.
	AMIAvailableTimeout stages.Duration `yaml:"ami_available_timeout"`
}

// Polling tunes the delay between the polls of a wait.
type Polling struct {
	// Scale multiplies the poll delay's bounds (1 s and 15 s); between
	// them a wait polls after a tenth of the time already waited. Default 1.
	Scale float64 `yaml:"scale"`
}

// Filter selects EC2 resources by Describe* filters (name → values).
type Filter struct {
	// Filters are EC2 filters, e.g. {"tag:Name": "build"}.
	Filters map[string]string `yaml:"filters"`
}

// BlockDevice is one block device mapping.
type BlockDevice struct {
	// DeviceName, e.g. /dev/xvda.
	DeviceName string `yaml:"device_name"`
	// VolumeSize in GiB.
	VolumeSize int32 `yaml:"volume_size"`
	// VolumeType: gp3, gp2, io1, …
	VolumeType string `yaml:"volume_type"`
	// IOPS of io1/io2/gp3 volumes.
	IOPS int32 `yaml:"iops"`
	// Throughput in MiB/s of gp3 volumes.
	Throughput int32 `yaml:"throughput"`
	// Encrypted encrypts the volume.
	Encrypted *bool `yaml:"encrypted"`
	// KMSKeyID encrypts the volume with this key.
	KMSKeyID string `yaml:"kms_key_id"`
	// DeleteOnTermination deletes the volume with the instance.
	DeleteOnTermination *bool `yaml:"delete_on_termination"`
	// SnapshotID creates the volume from a snapshot.
	SnapshotID string `yaml:"snapshot_id"`
	// NoDevice suppresses a device of the source AMI.
	NoDevice bool `yaml:"no_device"`
}

// Source is what a root stage boots: exactly one of AMI and AMIFilter.
type Source struct {
	// AMI is a source AMI id.
	AMI string `yaml:"ami"`
	// AMIFilter finds the source AMI; it is resolved when the key is
	// computed, and the key pins the AMI it found.
	AMIFilter *AMIFilter `yaml:"ami_filter"`
}

// AMIFilter is Packer's source_ami_filter.
type AMIFilter struct {
	// Name matches the AMI name, with * wildcards.
	Name string `yaml:"name"`
	// Owners are account ids or aliases (self, amazon).
	Owners []string `yaml:"owners"`
	// MostRecent picks the newest of several matches; without it several
	// matches are an error.
	MostRecent bool `yaml:"most_recent"`
	// Filters are extra DescribeImages filters.
	Filters map[string]string `yaml:"filters"`
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// validate checks a config with no side effects and returns every problem.
func (c *Config) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !regionRE.MatchString(c.Region) {
		add("region %q: want a region name such as us-east-1", c.Region)
	}
	for _, r := range c.AMIRegions {
		if !regionRE.MatchString(r) {
			add("ami_regions: %q is not a region name", r)
		}
	}
	if c.InstanceType == "" {
		add("instance_type is required")
	}
	if c.AMIName == "" {
		add("ami_name is required (a prefix; the action id's first 12 hex digits are appended)")
	}
	if c.SSHUsername == "" {
		add("ssh_username is required")
	}
	if c.SSHPort < 0 || c.SSHPort > 65535 {
		add("ssh_port %d is out of range", c.SSHPort)
	}
	switch c.SSHInterface {
	case "", "public_ip", "private_ip", "public_dns", "private_dns":
	default:
		add("ssh_interface %q: use public_ip, private_ip, public_dns or private_dns", c.SSHInterface)
	}
	if (c.SSHKeypairName == "") != (c.SSHPrivateKeyFile == "") {
		add("ssh_keypair_name and ssh_private_key_file go together")
	}
	if c.SubnetID != "" && c.SubnetFilter != nil {
		add("subnet_id and subnet_filter exclude each other")
	}
	if c.VPCID != "" && c.VPCFilter != nil {
		add("vpc_id and vpc_filter exclude each other")
	}
	if c.AWSPolling.Scale < 0 {
		add("aws_polling.scale must not be negative")
	}
	if c.KMSKeyID != "" && !c.EncryptBoot {
		add("kms_key_id needs encrypt_boot: true")
	}
	errs = append(errs, c.validateCIDRs()...)
	return errors.Join(errs...)
}

// validateCIDRs checks the temporary security group's source ranges.
func (c *Config) validateCIDRs() []error {
	var errs []error
	if c.usesTemporarySG() && len(c.TemporarySecurityGroupSourceCIDRs) == 0 && !c.privateSSH() {
		errs = append(errs, errors.New("temporary_security_group_source_cidrs is required: list the ranges "+
			"that may reach SSH (your address as a.b.c.d/32; 0.0.0.0/0 only if you mean it), "+
			"or set ssh_interface: private_ip, or give security_group_id(s)"))
	}
	for _, s := range c.TemporarySecurityGroupSourceCIDRs {
		if _, err := netip.ParsePrefix(s); err != nil {
			errs = append(errs, fmt.Errorf("temporary_security_group_source_cidrs: %w", err))
		}
	}
	return errs
}

// usesTemporarySG reports whether no existing security group is given.
func (c *Config) usesTemporarySG() bool {
	return c.SecurityGroupID == "" && len(c.SecurityGroupIDs) == 0 && c.SecurityGroupFilter == nil
}

// privateSSH reports whether SSH goes to the instance's private address.
func (c *Config) privateSSH() bool {
	return c.SSHInterface == "private_ip" || c.SSHInterface == "private_dns"
}

// sourceCIDRs returns the temporary security group's source ranges.
func (c *Config) sourceCIDRs() []string {
	if len(c.TemporarySecurityGroupSourceCIDRs) > 0 {
		return c.TemporarySecurityGroupSourceCIDRs
	}
	return []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}
}

func (c *Config) sshPort() int { return orDefault(c.SSHPort, defaultSSHPort) }

func (c *Config) scale() float64 {
	if c.AWSPolling.Scale == 0 {
		return 1
	}
	return c.AWSPolling.Scale
}

func durationOr(d stages.Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// validate checks a root node's source.
func (s *Source) validate() error {
	if s == nil || (s.AMI == "") == (s.AMIFilter == nil) {
		return errors.New("a root stage on amazon-ebs needs a source: exactly one of ami or ami_filter")
	}
	if f := s.AMIFilter; f != nil {
		if f.Name == "" && len(f.Filters) == 0 {
			return errors.New("ami_filter needs a name or filters")
		}
		if len(f.Owners) == 0 {
			return errors.New("ami_filter needs owners (anyone could publish an AMI of that name)")
		}
	}
	return nil
}
