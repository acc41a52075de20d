package amazontest

// parseBlockDevices reads BlockDeviceMapping.N.{DeviceName, VirtualName,
// NoDevice, Ebs.{SnapshotId, VolumeSize, VolumeType, Iops,
// DeleteOnTermination, Encrypted}}.
func parseBlockDevices(a args) ([]BlockDevice, *apiError) {
	var out []BlockDevice
	for _, m := range a.Structs("BlockDeviceMapping") {
		bd := BlockDevice{DeviceName: m.Str("DeviceName"), VirtualName: m.Str("VirtualName"), NoDevice: m.Has("NoDevice")}
		if bd.DeviceName == "" {
			return nil, errMissing("BlockDeviceMapping.DeviceName")
		}
		ebs := m.Sub("Ebs")
		bd.SnapshotID = ebs.Str("SnapshotId")
		bd.VolumeSize = ebs.Int("VolumeSize", 0)
		bd.VolumeType = ebs.Str("VolumeType")
		bd.Iops = ebs.Int("Iops", 0)
		bd.DeleteOnTermination = !ebs.Has("DeleteOnTermination") || ebs.Bool("DeleteOnTermination")
		bd.Encrypted = ebs.Bool("Encrypted")
		if bd.VolumeSize < 0 || bd.VolumeSize > 16384 {
			return nil, errInvalid("Volume of size %d is not valid", bd.VolumeSize)
		}
		switch bd.VolumeType {
		case "", "gp2", "gp3", "io1", "io2", "st1", "sc1", "standard":
		default:
			return nil, errInvalid("Value (%s) for parameter volumeType is invalid.", bd.VolumeType)
		}
		out = append(out, bd)
	}
	return out, nil
}

// overlayBlockDevices applies request mappings to base mappings: a
// mapping for an existing device name replaces its non-zero fields (or
// removes it with NoDevice), a new device name is added.
func overlayBlockDevices(base, req []BlockDevice) []BlockDevice {
	out := append([]BlockDevice(nil), base...)
	for _, r := range req {
		idx := -1
		for i, b := range out {
			if b.DeviceName == r.DeviceName {
				idx = i
			}
		}
		if idx < 0 {
			if !r.NoDevice {
				out = append(out, r)
			}
			continue
		}
		if r.NoDevice {
			out = append(out[:idx], out[idx+1:]...)
			continue
		}
		b := &out[idx]
		if r.SnapshotID != "" {
			b.SnapshotID = r.SnapshotID
		}
		if r.VolumeSize != 0 {
			b.VolumeSize = r.VolumeSize
		}
		if r.VolumeType != "" {
			b.VolumeType = r.VolumeType
		}
		if r.Iops != 0 {
			b.Iops = r.Iops
		}
		b.DeleteOnTermination = r.DeleteOnTermination
		b.Encrypted = b.Encrypted || r.Encrypted
	}
	return out
}

func blockDevicesXML(bds []BlockDevice) []blockDeviceXML {
	var out []blockDeviceXML
	for _, bd := range bds {
		x := blockDeviceXML{DeviceName: bd.DeviceName, VirtualName: bd.VirtualName}
		if bd.NoDevice {
			empty := ""
			x.NoDevice = &empty
		} else if bd.VirtualName == "" {
			x.Ebs = &ebsXML{SnapshotID: bd.SnapshotID, VolumeSize: bd.VolumeSize, DeleteOnTermination: bd.DeleteOnTermination,
				VolumeType: bd.VolumeType, Iops: bd.Iops, Encrypted: bd.Encrypted}
		}
		out = append(out, x)
	}
	return out
}
