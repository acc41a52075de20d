package amazontest

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

var instanceTypeRE = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)

var instanceFilters = (&instance{}).filterFields()

func (in *instance) filterFields() map[string][]string {
	m := map[string][]string{
		"instance-id": one(in.id), "instance-state-name": one(in.state),
		"instance-state-code": one(strconv.Itoa(stateCodes[in.state])), "image-id": one(in.imageID),
		"instance-type": one(in.instanceType), "key-name": one(in.keyName), "subnet-id": one(in.subnetID),
		"vpc-id": one(in.vpcID), "reservation-id": one(in.reservationID), "instance.group-id": in.groupIDs,
		"group-id": in.groupIDs, "ip-address": nil, "private-ip-address": nil,
		"network-interface.addresses.association.public-ip": nil,
		"availability-zone": nil, "architecture": one("x86_64"), "root-device-type": one("ebs"),
	}
	if in.state != stateTerminated {
		m["private-ip-address"] = one("127.0.0.1")
	}
	if in.state == statePending || in.state == stateRunning {
		m["ip-address"] = one("127.0.0.1")
		m["network-interface.addresses.association.public-ip"] = one("127.0.0.1")
	}
	return m
}

// runInstances: ImageId, MinCount, MaxCount, InstanceType, KeyName,
// SecurityGroupId.N / SecurityGroup.N, SubnetId, UserData (base64),
// InstanceInitiatedShutdownBehavior, BlockDeviceMapping.N,
// TagSpecification (instance, volume). Every instance boots through the
// Runner at once; it reports pending until Delays.InstanceRunning passed.
func (f *Fake) runInstances(c *call) (reply, error) {
	r, a := c.region, c.args
	imageID := a.Str("ImageId")
	if imageID == "" {
		return nil, errMissing("ImageId")
	}
	im, ok := r.images[imageID]
	if !ok || !f.visible(im) {
		return nil, errNotFound(imageID)
	}
	if im.state != imageAvailable {
		return nil, errf("InvalidAMIID.Unavailable", "The image id '[%s]' is not available (state %s)", imageID, im.state)
	}
	minCount, maxCount := a.Int("MinCount", 0), a.Int("MaxCount", 0)
	if minCount < 1 || maxCount < minCount {
		return nil, errInvalid("Invalid MinCount %d / MaxCount %d", minCount, maxCount)
	}
	instanceType := a.Str("InstanceType")
	if instanceType == "" {
		instanceType = "m1.small"
	}
	if !instanceTypeRE.MatchString(instanceType) {
		return nil, errInvalid("Invalid value '%s' for InstanceType.", instanceType)
	}
	var authorized []byte
	keyName := a.Str("KeyName")
	if keyName != "" {
		k, ok := r.keyPairs[keyName]
		if !ok {
			return nil, errf("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", keyName)
		}
		authorized = k.publicKey
	}
	if id := a.Str("SubnetId"); id != "" && id != r.subnet.id {
		return nil, errNotFound(id)
	}
	groupIDs := a.List("SecurityGroupId")
	for _, id := range groupIDs {
		if _, ok := r.groups[id]; !ok {
			return nil, errNotFound(id)
		}
	}
	for _, name := range a.List("SecurityGroup") {
		g, aerr := r.groupByIDOrName(args{"GroupName": {name}})
		if aerr != nil {
			return nil, aerr
		}
		groupIDs = append(groupIDs, g.id)
	}
	if len(groupIDs) == 0 {
		for _, g := range r.groups {
			if g.isDefault {
				groupIDs = append(groupIDs, g.id)
			}
		}
	}
	if err := validTagSpecTypes(a, "instance", "volume", "network-interface"); err != nil {
		return nil, err
	}
	var userData []byte
	if ud := a.Str("UserData"); ud != "" {
		dec, err := base64.StdEncoding.DecodeString(ud)
		if err != nil {
			return nil, errInvalid("Invalid BASE64 encoding of user data.")
		}
		userData = dec
	}
	shutdown := a.Str("InstanceInitiatedShutdownBehavior")
	if shutdown != "" && shutdown != "stop" && shutdown != "terminate" {
		return nil, errInvalid("Invalid value '%s' for instanceInitiatedShutdownBehavior.", shutdown)
	}
	if shutdown == "" {
		shutdown = "stop"
	}
	reqBDs, aerr := parseBlockDevices(a)
	if aerr != nil {
		return nil, aerr
	}
	bds := overlayBlockDevices(im.blockDevices, reqBDs)
	rootSnap := ""
	for _, bd := range im.blockDevices {
		if bd.DeviceName == rootDevice {
			rootSnap = bd.SnapshotID
		}
	}

	res := reservationXML{ReservationID: f.newID("r"), OwnerID: f.opts.AccountID}
	for _, id := range groupIDs {
		res.Groups = append(res.Groups, groupIdentifierXML{GroupID: id, GroupName: r.groups[id].name})
	}
	for i := 0; i < maxCount; i++ {
		in := &instance{seq: f.nextSeq(), id: f.newID("i"), reservationID: res.ReservationID, imageID: imageID,
			instanceType: instanceType, keyName: keyName, subnetID: r.subnet.id, vpcID: r.vpc.id,
			groupIDs: append([]string(nil), groupIDs...), userData: userData, shutdownBehavior: shutdown,
			rootSnapshotID: rootSnap, launchIndex: i, launched: c.now, state: statePending,
			next: &transition{to: stateRunning, at: c.now.Add(f.opts.Delays.InstanceRunning)},
			tags: a.tagSpecs("instance"), volumeTags: a.tagSpecs("volume"), authorizedKey: authorized}
		for _, bd := range bds {
			if !bd.NoDevice && bd.VirtualName == "" {
				bd.VolumeID = f.newID("vol")
			}
			in.blockDevices = append(in.blockDevices, bd)
		}
		if err := f.boot(in); err != nil {
			return nil, err
		}
		r.instances[in.id] = in
		f.hide(r, in.id)
		res.Instances = append(res.Instances, f.instanceXML(r, in))
	}
	return &runInstancesReply{reservationXML: res}, nil
}

// boot starts the instance through the Runner and publishes its SSH port.
func (f *Fake) boot(in *instance) error {
	ep, err := f.runner.Start(in.id, in.rootSnapshotID, in.authorizedKey)
	if err != nil {
		return f.runnerError(fmt.Errorf("starting %s: %w", in.id, err))
	}
	in.sshPort, in.hostKey = ep.Port, ep.HostKey
	if ep.Port != 0 {
		in.tags[SSHPortTag] = strconv.Itoa(ep.Port)
	}
	return nil
}

// halt stops the instance's Runner processes (destroy also removes its
// root filesystem) and withdraws its SSH port.
func (f *Fake) halt(in *instance, destroy bool) {
	var err error
	if destroy {
		err = f.runner.Destroy(in.id)
	} else {
		err = f.runner.Stop(in.id)
	}
	if err != nil {
		_ = f.runnerError(fmt.Errorf("stopping %s: %w", in.id, err))
	}
	in.sshPort = 0
	delete(in.tags, SSHPortTag)
}

func (f *Fake) instanceXML(r *region, in *instance) instanceXML {
	x := instanceXML{InstanceID: in.id, ImageID: in.imageID,
		State:   instanceStateXML{Code: stateCodes[in.state], Name: in.state},
		KeyName: in.keyName, AmiLaunchIndex: in.launchIndex, InstanceType: in.instanceType,
		LaunchTime: ec2Time(in.launched), Placement: placementXML{AvailabilityZone: r.subnet.az, Tenancy: "default"},
		Monitoring: monitoringXML{State: "disabled"}, Architecture: "x86_64", RootDeviceType: "ebs",
		RootDeviceName: rootDevice, VirtualizationType: "hvm", Hypervisor: "xen", EnaSupport: true,
		Tags: tagsXML(in.tags), Reason: in.stateReason}
	if in.state != stateTerminated {
		x.SubnetID, x.VpcID = in.subnetID, in.vpcID
		x.PrivateIPAddress, x.PrivateDNSName = "127.0.0.1", "localhost"
		for _, id := range in.groupIDs {
			name := ""
			if g, ok := r.groups[id]; ok {
				name = g.name
			}
			x.Groups = append(x.Groups, groupIdentifierXML{GroupID: id, GroupName: name})
		}
		for _, bd := range in.blockDevices {
			if bd.VolumeID != "" {
				x.BlockDevices = append(x.BlockDevices, instanceBlockDeviceXML{DeviceName: bd.DeviceName,
					Ebs: instanceEbsXML{VolumeID: bd.VolumeID, Status: "attached", AttachTime: ec2Time(in.launched),
						DeleteOnTermination: bd.DeleteOnTermination}})
			}
		}
	}
	if in.state == statePending || in.state == stateRunning {
		x.PublicIPAddress, x.DNSName = "127.0.0.1", "localhost"
	}
	switch in.state {
	case stateStopping, stateStopped:
		x.StateReason = &stateReasonXML{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}
	case stateShuttingDown, stateTerminated:
		x.StateReason = &stateReasonXML{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}
	}
	return x
}

// describeInstances: InstanceId.N, Filter. Terminated instances stay
// visible.
func (f *Fake) describeInstances(c *call) (reply, error) {
	r, a := c.region, c.args
	fs := parseFilters(a)
	if err := checkFilters(fs, instanceFilters); err != nil {
		return nil, err
	}
	ids := a.List("InstanceId")
	for _, id := range ids {
		if in, ok := r.instances[id]; !ok || !r.seen(in.id) {
			return nil, errNotFound(id)
		}
	}
	out := &describeInstancesReply{}
	byRes := map[string]int{}
	for _, in := range sortedBySeq(r.instances, func(in *instance) int64 { return in.seq }) {
		if len(ids) > 0 && !contains(ids, in.id) {
			continue
		}
		if !matchFilters(fs, fields(in.filterFields()), in.tags) {
			continue
		}
		if len(ids) == 0 && !r.seen(in.id) {
			continue
		}
		idx, ok := byRes[in.reservationID]
		if !ok {
			idx = len(out.Reservations)
			byRes[in.reservationID] = idx
			out.Reservations = append(out.Reservations, reservationXML{ReservationID: in.reservationID, OwnerID: f.opts.AccountID})
		}
		out.Reservations[idx].Instances = append(out.Reservations[idx].Instances, f.instanceXML(r, in))
	}
	return out, nil
}

// instancesOf resolves InstanceId.N, failing on the first unknown id.
func (r *region) instancesOf(a args) ([]*instance, *apiError) {
	ids := a.List("InstanceId")
	if len(ids) == 0 {
		return nil, errMissing("InstanceId")
	}
	var out []*instance
	for _, id := range ids {
		in, ok := r.instances[id]
		if !ok {
			return nil, errNotFound(id)
		}
		out = append(out, in)
	}
	return out, nil
}

// changeStates applies change to every instance of InstanceId.N after
// check accepted all of them, and returns the state changes.
func (f *Fake) changeStates(c *call, check func(*instance) *apiError, change func(*instance)) (reply, error) {
	ins, aerr := c.region.instancesOf(c.args)
	if aerr != nil {
		return nil, aerr
	}
	for _, in := range ins {
		if aerr := check(in); aerr != nil {
			return nil, aerr
		}
	}
	out := &stateChangeReply{}
	for _, in := range ins {
		prev := in.state
		change(in)
		out.Instances = append(out.Instances, stateChangeXML{InstanceID: in.id,
			PreviousState: instanceStateXML{Code: stateCodes[prev], Name: prev},
			CurrentState:  instanceStateXML{Code: stateCodes[in.state], Name: in.state}})
	}
	return out, nil
}

func (f *Fake) to(in *instance, now time.Time, state, next string, delay time.Duration) {
	in.state = state
	in.next = &transition{to: next, at: now.Add(delay)}
}

// stopInstances: InstanceId.N, Force. The Runner stops the instance at once;
// it reports stopping until Delays.InstanceStopping passed.
func (f *Fake) stopInstances(c *call) (reply, error) {
	return f.changeStates(c, func(in *instance) *apiError {
		if in.state == stateShuttingDown || in.state == stateTerminated {
			return errf("IncorrectInstanceState", "This instance '%s' is not in a state from which it can be stopped.", in.id)
		}
		return nil
	}, func(in *instance) {
		if in.state == statePending || in.state == stateRunning {
			f.halt(in, false)
			in.stateReason = "User initiated (" + c.now.UTC().Format("2006-01-02 15:04:05 MST") + ")"
			f.to(in, c.now, stateStopping, stateStopped, f.opts.Delays.InstanceStopping)
		}
	})
}

// startInstances: InstanceId.N. A stopped instance boots again on its
// kept root filesystem, on a new SSH port.
func (f *Fake) startInstances(c *call) (reply, error) {
	var bootErr error
	out, err := f.changeStates(c, func(in *instance) *apiError {
		if in.state != stateStopped && in.state != statePending && in.state != stateRunning {
			return errf("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be started.", in.id)
		}
		return nil
	}, func(in *instance) {
		if in.state != stateStopped {
			return
		}
		if err := f.boot(in); err != nil {
			bootErr = err
			return
		}
		in.stateReason = ""
		f.to(in, c.now, statePending, stateRunning, f.opts.Delays.InstanceRunning)
	})
	if err == nil && bootErr != nil {
		return nil, bootErr
	}
	return out, err
}

// terminateInstances: InstanceId.N. The Runner stops the instance and
// removes its root filesystem at once; it reports shutting-down until
// Delays.InstanceTerminating passed.
func (f *Fake) terminateInstances(c *call) (reply, error) {
	return f.changeStates(c, func(*instance) *apiError { return nil }, func(in *instance) {
		if in.state == stateShuttingDown || in.state == stateTerminated {
			return
		}
		f.halt(in, true)
		in.stateReason = "User initiated (" + c.now.UTC().Format("2006-01-02 15:04:05 MST") + ")"
		f.to(in, c.now, stateShuttingDown, stateTerminated, f.opts.Delays.InstanceTerminating)
	})
}
