package amazontest

// describeRegions: RegionName.N, AllRegions, Filter (region-name, endpoint,
// opt-in-status).
func (f *Fake) describeRegions(c *call) (reply, error) {
	names := c.args.List("RegionName")
	fs := parseFilters(c.args)
	known := map[string][]string{"region-name": nil, "endpoint": nil, "opt-in-status": nil}
	if err := checkFilters(fs, known); err != nil {
		return nil, err
	}
	served := map[string]bool{}
	for _, n := range f.opts.Regions {
		served[n] = true
	}
	for _, n := range names {
		if !served[n] {
			return nil, errf("InvalidParameterValue", "Invalid region: %s", n)
		}
	}
	out := &describeRegionsReply{}
	for _, n := range f.opts.Regions {
		if len(names) > 0 && !contains(names, n) {
			continue
		}
		rx := regionXML{RegionName: n, RegionEndpoint: "ec2." + n + ".amazonaws.com", OptInStatus: "opt-in-not-required"}
		ff := fields(map[string][]string{"region-name": one(n), "endpoint": one(rx.RegionEndpoint), "opt-in-status": one(rx.OptInStatus)})
		if matchFilters(fs, ff, nil) {
			out.Regions = append(out.Regions, rx)
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
