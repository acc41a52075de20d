package amazontest

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"sort"
	"time"
)

// Namespace is the XML namespace of every EC2 reply.
const Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// APIVersion is the EC2 API version the fake speaks.
const APIVersion = "2016-11-15"

// meta carries the requestId every reply has; reply structs embed it.
type meta struct {
	RequestID string `xml:"requestId"`
}

func (m *meta) setRequestID(id string) { m.RequestID = id }

type reply interface{ setRequestID(string) }

// writeReply writes body as <ActionResponse xmlns=…>.
func writeReply(w http.ResponseWriter, action, requestID string, body reply) {
	body.setRequestID(requestID)
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	start := xml.StartElement{Name: xml.Name{Space: Namespace, Local: action + "Response"}}
	if err := enc.EncodeElement(body, start); err != nil {
		writeError(w, requestID, &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

type errorXML struct {
	XMLName   xml.Name `xml:"Response"`
	Errors    []errXML `xml:"Errors>Error"`
	RequestID string   `xml:"RequestID"`
}

type errXML struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// writeError writes an EC2 error document.
func writeError(w http.ResponseWriter, requestID string, e *apiError) {
	out, _ := xml.Marshal(errorXML{Errors: []errXML{{Code: e.Code, Message: e.Message}}, RequestID: requestID})
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(e.Status)
	_, _ = w.Write(append([]byte(xml.Header), out...))
}

// ec2Time formats t the way EC2 does (ISO 8601, milliseconds, UTC).
func ec2Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// Shared element types.

type tagXML struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func tagsXML(tags map[string]string) []tagXML {
	out := make([]tagXML, 0, len(tags))
	for k, v := range tags {
		out = append(out, tagXML{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

type returnReply struct {
	meta
	Return bool `xml:"return"`
}

// Regions.

type regionXML struct {
	RegionName     string `xml:"regionName"`
	RegionEndpoint string `xml:"regionEndpoint"`
	OptInStatus    string `xml:"optInStatus"`
}

type describeRegionsReply struct {
	meta
	Regions []regionXML `xml:"regionInfo>item"`
}

// Network.

type vpcXML struct {
	VpcID           string   `xml:"vpcId"`
	OwnerID         string   `xml:"ownerId"`
	State           string   `xml:"state"`
	CidrBlock       string   `xml:"cidrBlock"`
	DhcpOptionsID   string   `xml:"dhcpOptionsId"`
	InstanceTenancy string   `xml:"instanceTenancy"`
	IsDefault       bool     `xml:"isDefault"`
	Tags            []tagXML `xml:"tagSet>item"`
}

type describeVpcsReply struct {
	meta
	Vpcs []vpcXML `xml:"vpcSet>item"`
}

type subnetXML struct {
	SubnetID                string   `xml:"subnetId"`
	SubnetArn               string   `xml:"subnetArn"`
	State                   string   `xml:"state"`
	OwnerID                 string   `xml:"ownerId"`
	VpcID                   string   `xml:"vpcId"`
	CidrBlock               string   `xml:"cidrBlock"`
	AvailableIPAddressCount int      `xml:"availableIpAddressCount"`
	AvailabilityZone        string   `xml:"availabilityZone"`
	AvailabilityZoneID      string   `xml:"availabilityZoneId"`
	DefaultForAz            bool     `xml:"defaultForAz"`
	MapPublicIPOnLaunch     bool     `xml:"mapPublicIpOnLaunch"`
	Tags                    []tagXML `xml:"tagSet>item"`
}

type describeSubnetsReply struct {
	meta
	Subnets []subnetXML `xml:"subnetSet>item"`
}

type ipRangeXML struct {
	CidrIP      string `xml:"cidrIp"`
	Description string `xml:"description,omitempty"`
}

type ipPermissionXML struct {
	IPProtocol string       `xml:"ipProtocol"`
	FromPort   *int         `xml:"fromPort,omitempty"`
	ToPort     *int         `xml:"toPort,omitempty"`
	IPRanges   []ipRangeXML `xml:"ipRanges>item"`
}

type securityGroupXML struct {
	OwnerID          string            `xml:"ownerId"`
	GroupID          string            `xml:"groupId"`
	GroupName        string            `xml:"groupName"`
	GroupDescription string            `xml:"groupDescription"`
	VpcID            string            `xml:"vpcId"`
	Arn              string            `xml:"securityGroupArn"`
	Ingress          []ipPermissionXML `xml:"ipPermissions>item"`
	Egress           []ipPermissionXML `xml:"ipPermissionsEgress>item"`
	Tags             []tagXML          `xml:"tagSet>item"`
}

type describeSecurityGroupsReply struct {
	meta
	Groups []securityGroupXML `xml:"securityGroupInfo>item"`
}

type createSecurityGroupReply struct {
	meta
	Return  bool     `xml:"return"`
	GroupID string   `xml:"groupId"`
	Arn     string   `xml:"securityGroupArn"`
	Tags    []tagXML `xml:"tagSet>item"`
}

type deleteSecurityGroupReply struct {
	meta
	Return  bool   `xml:"return"`
	GroupID string `xml:"groupId"`
}

// Key pairs.

type keyPairXML struct {
	KeyPairID      string   `xml:"keyPairId"`
	KeyName        string   `xml:"keyName"`
	KeyFingerprint string   `xml:"keyFingerprint"`
	KeyType        string   `xml:"keyType"`
	CreateTime     string   `xml:"createTime"`
	PublicKey      string   `xml:"publicKey,omitempty"`
	Tags           []tagXML `xml:"tagSet>item"`
}

type describeKeyPairsReply struct {
	meta
	Keys []keyPairXML `xml:"keySet>item"`
}

type createKeyPairReply struct {
	meta
	KeyPairID      string   `xml:"keyPairId"`
	KeyName        string   `xml:"keyName"`
	KeyFingerprint string   `xml:"keyFingerprint"`
	KeyMaterial    string   `xml:"keyMaterial,omitempty"`
	Tags           []tagXML `xml:"tagSet>item"`
}

type deleteKeyPairReply struct {
	meta
	Return    bool   `xml:"return"`
	KeyPairID string `xml:"keyPairId,omitempty"`
}

// Instances.

type instanceStateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type placementXML struct {
	AvailabilityZone string `xml:"availabilityZone"`
	Tenancy          string `xml:"tenancy"`
}

type monitoringXML struct {
	State string `xml:"state"`
}

type groupIdentifierXML struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type stateReasonXML struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type instanceEbsXML struct {
	VolumeID            string `xml:"volumeId"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type instanceBlockDeviceXML struct {
	DeviceName string         `xml:"deviceName"`
	Ebs        instanceEbsXML `xml:"ebs"`
}

type instanceXML struct {
	InstanceID         string                   `xml:"instanceId"`
	ImageID            string                   `xml:"imageId"`
	State              instanceStateXML         `xml:"instanceState"`
	PrivateDNSName     string                   `xml:"privateDnsName"`
	DNSName            string                   `xml:"dnsName"`
	Reason             string                   `xml:"reason"`
	KeyName            string                   `xml:"keyName,omitempty"`
	AmiLaunchIndex     int                      `xml:"amiLaunchIndex"`
	InstanceType       string                   `xml:"instanceType"`
	LaunchTime         string                   `xml:"launchTime"`
	Placement          placementXML             `xml:"placement"`
	Monitoring         monitoringXML            `xml:"monitoring"`
	SubnetID           string                   `xml:"subnetId,omitempty"`
	VpcID              string                   `xml:"vpcId,omitempty"`
	PrivateIPAddress   string                   `xml:"privateIpAddress,omitempty"`
	PublicIPAddress    string                   `xml:"ipAddress,omitempty"`
	Groups             []groupIdentifierXML     `xml:"groupSet>item"`
	StateReason        *stateReasonXML          `xml:"stateReason,omitempty"`
	Architecture       string                   `xml:"architecture"`
	RootDeviceType     string                   `xml:"rootDeviceType"`
	RootDeviceName     string                   `xml:"rootDeviceName"`
	BlockDevices       []instanceBlockDeviceXML `xml:"blockDeviceMapping>item"`
	VirtualizationType string                   `xml:"virtualizationType"`
	Tags               []tagXML                 `xml:"tagSet>item"`
	Hypervisor         string                   `xml:"hypervisor"`
	EbsOptimized       bool                     `xml:"ebsOptimized"`
	EnaSupport         bool                     `xml:"enaSupport"`
}

type reservationXML struct {
	ReservationID string               `xml:"reservationId"`
	OwnerID       string               `xml:"ownerId"`
	Groups        []groupIdentifierXML `xml:"groupSet>item"`
	Instances     []instanceXML        `xml:"instancesSet>item"`
}

type runInstancesReply struct {
	meta
	reservationXML
}

type describeInstancesReply struct {
	meta
	Reservations []reservationXML `xml:"reservationSet>item"`
}

type stateChangeXML struct {
	InstanceID    string           `xml:"instanceId"`
	CurrentState  instanceStateXML `xml:"currentState"`
	PreviousState instanceStateXML `xml:"previousState"`
}

type stateChangeReply struct {
	meta
	Instances []stateChangeXML `xml:"instancesSet>item"`
}

// Images and snapshots.

type ebsXML struct {
	SnapshotID          string `xml:"snapshotId,omitempty"`
	VolumeSize          int    `xml:"volumeSize,omitempty"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	VolumeType          string `xml:"volumeType,omitempty"`
	Iops                int    `xml:"iops,omitempty"`
	Encrypted           bool   `xml:"encrypted"`
}

type blockDeviceXML struct {
	DeviceName  string  `xml:"deviceName"`
	VirtualName string  `xml:"virtualName,omitempty"`
	Ebs         *ebsXML `xml:"ebs,omitempty"`
	NoDevice    *string `xml:"noDevice,omitempty"`
}

type imageXML struct {
	ImageID            string           `xml:"imageId"`
	ImageLocation      string           `xml:"imageLocation"`
	ImageState         string           `xml:"imageState"`
	ImageOwnerID       string           `xml:"imageOwnerId"`
	CreationDate       string           `xml:"creationDate"`
	IsPublic           bool             `xml:"isPublic"`
	Architecture       string           `xml:"architecture"`
	ImageType          string           `xml:"imageType"`
	SourceInstanceID   string           `xml:"sourceInstanceId,omitempty"`
	SourceImageID      string           `xml:"sourceImageId,omitempty"`
	SourceImageRegion  string           `xml:"sourceImageRegion,omitempty"`
	Name               string           `xml:"name"`
	Description        string           `xml:"description,omitempty"`
	RootDeviceType     string           `xml:"rootDeviceType"`
	RootDeviceName     string           `xml:"rootDeviceName"`
	BlockDevices       []blockDeviceXML `xml:"blockDeviceMapping>item"`
	VirtualizationType string           `xml:"virtualizationType"`
	Hypervisor         string           `xml:"hypervisor"`
	EnaSupport         bool             `xml:"enaSupport"`
	PlatformDetails    string           `xml:"platformDetails"`
	UsageOperation     string           `xml:"usageOperation"`
	BootMode           string           `xml:"bootMode,omitempty"`
	Tags               []tagXML         `xml:"tagSet>item"`
}

type describeImagesReply struct {
	meta
	Images []imageXML `xml:"imagesSet>item"`
}

type imageIDReply struct {
	meta
	ImageID string `xml:"imageId"`
}

type launchPermissionXML struct {
	UserID string `xml:"userId,omitempty"`
	Group  string `xml:"group,omitempty"`
}

type valueXML struct {
	Value string `xml:"value"`
}

type describeImageAttributeReply struct {
	meta
	ImageID           string                `xml:"imageId"`
	LaunchPermissions []launchPermissionXML `xml:"launchPermission>item"`
	Description       *valueXML             `xml:"description,omitempty"`
	BlockDevices      []blockDeviceXML      `xml:"blockDeviceMapping>item"`
}

type snapshotXML struct {
	SnapshotID  string   `xml:"snapshotId"`
	VolumeID    string   `xml:"volumeId"`
	Status      string   `xml:"status"`
	StartTime   string   `xml:"startTime"`
	Progress    string   `xml:"progress"`
	OwnerID     string   `xml:"ownerId"`
	VolumeSize  int      `xml:"volumeSize"`
	Description string   `xml:"description"`
	Encrypted   bool     `xml:"encrypted"`
	StorageTier string   `xml:"storageTier"`
	Tags        []tagXML `xml:"tagSet>item"`
}

type describeSnapshotsReply struct {
	meta
	Snapshots []snapshotXML `xml:"snapshotSet>item"`
}

// itoaPtr returns a pointer to n, for optional integer elements.
func intPtr(n int) *int { return &n }
