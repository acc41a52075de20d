// Package image is the local builder's image store, the sources a root stage
// starts from, and the places a finished image is written to.
//
// # Store
//
// A Store lives under one directory (the builder passes <cache>/local):
//
//	oci/                  an OCI image layout holding every image pipe built
//	                      or pulled; blobs are shared by digest
//	layers/<diffid hex>/  each layer extracted once, in overlay form, as a
//	                      read-only overlay lower dir
//	sources/<sha>.json    which image a root-stage source produced, keyed by
//	                      the source's key lines
//	tmp/                  scratch space on the same file system, so results
//	                      are published by rename
//
// Everything is published atomically: blobs and source records by temp file
// and rename, layer dirs by renaming a finished temp dir with
// RENAME_NOREPLACE, so concurrent builds sharing a store never see half a
// layer and never corrupt one. A reader trusts a blob only after checking
// its size (and a manifest's digest); a missing or damaged entry is a miss.
// layers/ and tmp/ are 0700: they hold setuid binaries owned by root.
//
// # Sources
//
// A Source (Debootstrap, Image, Rootfs, Scratch) resolves to a Base: an
// image in the store plus the key lines that identify its content for the
// cache. Tarball sources (mmdebstrap's output, a rootfs tarball) become one
// deterministic layer: the tar is extracted with whiteouts applied and device
// nodes kept, and the tree is captured by package layer with mtimes clamped
// to SOURCE_DATE_EPOCH. The extracted tree is then adopted as the layer's
// lower dir, so it is never extracted twice.
//
// # Outputs
//
// Write puts an image in one Output: an OCI layout dir, an OCI or Docker
// archive, a registry, or a flattened rootfs tarball.
package image
