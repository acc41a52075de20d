// Package cache decides whether a node of a pipeline must be built, and
// remembers what was built. It knows nothing about builders: they describe
// their inputs as key lines, and the store keeps opaque artifacts.
//
// # Keys
//
// A node's ActionID is the sha256 of readable key lines ("name value"),
// written by each builder and provisioner itself rather than derived by
// reflection, so that a field enters a key only when its kind decides so and
// `PIPE_DEBUG=cachehash=1` can print exactly what was hashed. Local files
// enter through Key.File by mode, symlink target and content; a FileHasher
// keeps a stat cache so that a no-op run only stats them, with git's
// racy-clean rule guarding against writes too quick for timestamps to show.
// Sensitive values enter through Key.Secret as an HMAC-SHA256 under the
// store's secret key: keys stay comparable across runs without the value
// ever being written to the store. The key is per store (<dir>/secret) or,
// for runners sharing records, $PIPE_CACHE_HMAC_KEY.
//
// A node's upstream enters its key by OutputID, the digest of what the
// upstream built, not by the upstream's ActionID. A rebuild that yields a
// bit-identical result therefore leaves descendants cached (early cutoff).
//
// # Records
//
// Each build leaves a Record under
// <dir>/records/<pipeline>/<node>/<hex of ActionID>.json with its
// artifact, OutputID, key lines (so that a plan can say which line changed
// against Latest), parent and timings. Records are written to a temp file,
// synced and renamed into place, so a crash never leaves a record of a
// half-built stage. A record that cannot be parsed or does not match its
// path is a miss with a warning, never an error: the cache is an
// optimisation and must not stop a build.
//
// # Concurrency
//
// Several runs may share a store. Lock takes a per-node flock; the caller
// locks, checks Get again, builds on a miss, Puts and unlocks, so each key
// is built once. The kernel drops the lock of a crashed process.
package cache
