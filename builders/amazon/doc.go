// Package amazon implements the "amazon-ebs" builder: EBS-backed AMIs built
// by booting an instance, provisioning it over SSH and imaging it, with
// Packer's option names so that imported templates map one to one.
//
// # Steps
//
// Launch imports a temporary ed25519 key pair, creates a temporary security
// group that opens only the SSH port to temporary_security_group_source_cidrs,
// runs the instance (tagged pipe:run, pipe:node and pipe:temporary, with
// instance_initiated_shutdown_behavior terminate), waits until it runs,
// connects over SSH (package builders/ssh) and schedules `shutdown -h` after
// max_lifetime, so that even a lost run cannot leave an instance running for
// ever. Capture stops the instance, creates the AMI, waits until it is
// available and copies it to ami_regions in parallel.
//
// Every temporary resource is written to the run's ledger under the name pipe
// gives it before the call that creates it, and again with its id after;
// its undo is pushed on the stack before that call too, and finds the
// resource by name when the call never returned an id. The instance, the
// security group and the key pair are always removed; the AMI and its copies
// only when the build fails. A finished AMI keeps pipe:temporary until
// Publish runs, which happens after the cache record is written, so that a
// run killed in between leaves nothing that `pipe cleanup` would miss.
//
// # Cache
//
// The key holds what changes an image's content: the region, the source AMI
// (an ami_filter is resolved when the key is computed and pinned, as the
// local builder pins image digests), user_data, block device mappings,
// encryption, and the set of ami_regions (copies are part of what was built
// and recorded in the artifact). Names, descriptions, tags and launch
// permissions stay out of the key and are applied by Publish, on builds and
// reuses alike, with mutating calls only for what differs. An AMI name is
// ami_name plus the first 12 hex digits of the node's action id and 6
// characters of the run id, since AMI names cannot be reused and a forced
// rebuild of the same key must not collide with the published AMI.
//
// The artifact's Data holds "region" (the build region), "ami.<region>" and
// "snapshots.<region>" (comma-separated) for the build region and every
// copy; its OutputID is the build region's AMI id. Exists asks every region.
// Consumers find a node's current AMI by its tags: pipe:pipeline, pipe:node
// and pipe:current=true, which Publish moves to a new AMI only once it is
// available.
//
// # Waits
//
// Waits poll with a delay of about a tenth of the time already waited, at
// least 1 s and at most 15 s, times aws_polling.scale; a NotFound just after
// a create (EC2 is eventually consistent) and throttling are retried. The
// SDK is reached through the standard configuration chain, so the
// AWS_ENDPOINT_URL_EC2 setting points it at a fake EC2
// (package amazontest). The fake's instances listen on their own loopback
// ports; FakeSSHPortEnv lets a separate pipe process reach them, and only
// when the endpoint and the instance are loopback.
package amazon
