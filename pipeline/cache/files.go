package cache

// FileHasher hashes local files and directories for key lines. It keeps a
// stat cache (size, mtime, ctime, inode → digest) so that unchanged files are
// not read again, and applies git's racy-clean rule: a file modified in the
// same second as its cache entry was written is always re-read.
type FileHasher struct {
	// TODO(cache): implement.
}

// File writes key lines for the file or directory at path, named by name
// (usually the path relative to the pipeline file). A regular file gives one
// line with its mode and sha256; a symlink gives its target; a directory is
// walked entry by entry in lexical order, so that an empty subdirectory, a
// rename or a chmod changes the key.
func (k *Key) File(name, path string) error {
	panic("TODO(cache)")
}
