package amazontest

import "strings"

// createTags: ResourceId.N, Tag.N.{Key,Value}, on any resource of the
// region (instance, image, snapshot, security group, key pair, VPC,
// subnet). Resources the account does not own cannot be tagged.
func (f *Fake) createTags(c *call) (reply, error) {
	r, a := c.region, c.args
	ids := a.List("ResourceId")
	if len(ids) == 0 {
		return nil, errMissing("ResourceId")
	}
	tags := a.Structs("Tag")
	if len(tags) == 0 {
		return nil, errMissing("Tag")
	}
	for _, t := range tags {
		k := t.Str("Key")
		if k == "" || len(k) > 128 || len(t.Str("Value")) > 256 {
			return nil, errInvalid("Invalid tag key %q or value", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, errInvalid("Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	var maps []map[string]string
	for _, id := range ids {
		m, aerr := f.taggable(r, id)
		if aerr != nil {
			return nil, aerr
		}
		maps = append(maps, m)
	}
	for _, m := range maps {
		for _, t := range tags {
			m[t.Str("Key")] = t.Str("Value")
		}
	}
	return &returnReply{Return: true}, nil
}

// deleteTags: ResourceId.N, Tag.N.{Key,Value}; a tag without Value is
// deleted whatever its value, without any Tag every tag is.
func (f *Fake) deleteTags(c *call) (reply, error) {
	r, a := c.region, c.args
	ids := a.List("ResourceId")
	if len(ids) == 0 {
		return nil, errMissing("ResourceId")
	}
	var maps []map[string]string
	for _, id := range ids {
		m, aerr := f.taggable(r, id)
		if aerr != nil {
			return nil, aerr
		}
		maps = append(maps, m)
	}
	tags := a.Structs("Tag")
	for _, m := range maps {
		if len(tags) == 0 {
			for k := range m {
				delete(m, k)
			}
		}
		for _, t := range tags {
			if v, ok := m[t.Str("Key")]; ok && (!t.Has("Value") || v == t.Str("Value")) {
				delete(m, t.Str("Key"))
			}
		}
	}
	return &returnReply{Return: true}, nil
}

// taggable returns the tags of a resource the account may tag.
func (f *Fake) taggable(r *region, id string) (map[string]string, *apiError) {
	m, ok := r.tagsOf(id)
	if !ok {
		return nil, errNotFound(id)
	}
	if im, ok := r.images[id]; ok && im.ownerID != f.opts.AccountID {
		return nil, errf("AuthFailure", "Not authorized for image:%s", id)
	}
	if s, ok := r.snapshots[id]; ok && s.ownerID != f.opts.AccountID {
		return nil, errf("AuthFailure", "Not authorized for snapshot:%s", id)
	}
	return m, nil
}
