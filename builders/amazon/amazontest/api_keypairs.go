package amazontest

import "regexp"

var keyPairFilters = (&keyPair{}).filterFields()

func (k *keyPair) filterFields() map[string][]string {
	return map[string][]string{
		"key-name": one(k.name), "key-pair-id": one(k.id), "fingerprint": one(k.fingerprint),
		"key-type": one(k.keyType),
	}
}

var keyNameRE = regexp.MustCompile(`^[\x20-\x7e]{1,255}$`)

// createKeyPair: KeyName, KeyType (rsa|ed25519, default rsa), KeyFormat
// (pem only), TagSpecification (key-pair).
func (f *Fake) createKeyPair(c *call) (reply, error) {
	r, a := c.region, c.args
	k, aerr := f.newKeyPairRecord(r, a)
	if aerr != nil {
		return nil, aerr
	}
	keyType := a.Str("KeyType")
	if keyType == "" {
		keyType = "rsa"
	}
	if keyType != "rsa" && keyType != "ed25519" {
		return nil, errInvalid("Invalid value '%s' for KeyType", keyType)
	}
	if kf := a.Str("KeyFormat"); kf != "" && kf != "pem" {
		return nil, errInvalid("KeyFormat '%s' is not supported by the fake (pem only)", kf)
	}
	material, pub, fp, err := newKeyPair(keyType)
	if err != nil {
		return nil, err
	}
	k.keyType, k.publicKey, k.fingerprint = keyType, pub, fp
	r.keyPairs[k.name] = k
	f.hide(r, k.id)
	return &createKeyPairReply{KeyPairID: k.id, KeyName: k.name, KeyFingerprint: fp, KeyMaterial: material, Tags: tagsXML(k.tags)}, nil
}

// importKeyPair: KeyName, PublicKeyMaterial (base64 of an OpenSSH public
// key line), TagSpecification (key-pair).
func (f *Fake) importKeyPair(c *call) (reply, error) {
	r, a := c.region, c.args
	k, aerr := f.newKeyPairRecord(r, a)
	if aerr != nil {
		return nil, aerr
	}
	if a.Str("PublicKeyMaterial") == "" {
		return nil, errMissing("PublicKeyMaterial")
	}
	keyType, pub, fp, err := importedKey(a.Str("PublicKeyMaterial"))
	if err != nil {
		return nil, errf("InvalidKey.Format", "Key is not in valid OpenSSH public key format: %v", err)
	}
	k.keyType, k.publicKey, k.fingerprint = keyType, pub, fp
	r.keyPairs[k.name] = k
	f.hide(r, k.id)
	return &createKeyPairReply{KeyPairID: k.id, KeyName: k.name, KeyFingerprint: fp, Tags: tagsXML(k.tags)}, nil
}

// newKeyPairRecord validates the name and tags shared by CreateKeyPair
// and ImportKeyPair.
func (f *Fake) newKeyPairRecord(r *region, a args) (*keyPair, *apiError) {
	name := a.Str("KeyName")
	if name == "" {
		return nil, errMissing("KeyName")
	}
	if !keyNameRE.MatchString(name) {
		return nil, errInvalid("Invalid key name '%s'", name)
	}
	if _, ok := r.keyPairs[name]; ok {
		return nil, errf("InvalidKeyPair.Duplicate", "The keypair '%s' already exists.", name)
	}
	if err := validTagSpecTypes(a, "key-pair"); err != nil {
		return nil, err
	}
	return &keyPair{seq: f.nextSeq(), id: f.newID("key"), name: name, created: timeNow(), tags: a.tagSpecs("key-pair")}, nil
}

// deleteKeyPair: KeyName or KeyPairId. Like EC2, deleting a key pair that
// does not exist succeeds.
func (f *Fake) deleteKeyPair(c *call) (reply, error) {
	r, a := c.region, c.args
	name, id := a.Str("KeyName"), a.Str("KeyPairId")
	if name == "" && id == "" {
		return nil, errMissing("KeyName")
	}
	for n, k := range r.keyPairs {
		if n == name || k.id == id {
			delete(r.keyPairs, n)
			return &deleteKeyPairReply{Return: true, KeyPairID: k.id}, nil
		}
	}
	return &deleteKeyPairReply{Return: true}, nil
}

// describeKeyPairs: KeyName.N, KeyPairId.N, Filter, IncludePublicKey.
func (f *Fake) describeKeyPairs(c *call) (reply, error) {
	r, a := c.region, c.args
	fs := parseFilters(a)
	if err := checkFilters(fs, keyPairFilters); err != nil {
		return nil, err
	}
	names, ids := a.List("KeyName"), a.List("KeyPairId")
	byID := map[string]*keyPair{}
	for _, k := range r.keyPairs {
		byID[k.id] = k
	}
	for _, n := range names {
		if k, ok := r.keyPairs[n]; !ok || !r.seen(k.id) {
			return nil, errf("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", n)
		}
	}
	for _, id := range ids {
		if _, ok := byID[id]; !ok || !r.seen(id) {
			return nil, errNotFound(id)
		}
	}
	out := &describeKeyPairsReply{}
	for _, k := range sortedBySeq(r.keyPairs, func(k *keyPair) int64 { return k.seq }) {
		if len(names) > 0 && !contains(names, k.name) || len(ids) > 0 && !contains(ids, k.id) {
			continue
		}
		if !matchFilters(fs, fields(k.filterFields()), k.tags) {
			continue
		}
		if len(names) == 0 && len(ids) == 0 && !r.seen(k.id) {
			continue
		}
		kx := keyPairXML{KeyPairID: k.id, KeyName: k.name, KeyFingerprint: k.fingerprint, KeyType: k.keyType,
			CreateTime: ec2Time(k.created), Tags: tagsXML(k.tags)}
		if a.Bool("IncludePublicKey") {
			kx.PublicKey = string(k.publicKey)
		}
		out.Keys = append(out.Keys, kx)
	}
	return out, nil
}
