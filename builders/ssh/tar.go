package ssh

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// writeTar writes the tree at dir to w as a tar stream, entry names under
// prefix ("" for the tree's contents alone, which then leaves out the root
// entry so that the receiving directory keeps its mode). Symlinks are
// stored as links, never followed; modes are kept; owners are root, which a
// non-root extractor replaces with itself. Entries come in WalkDir's
// lexical order, so the same tree makes the same stream.
func writeTar(ctx context.Context, w io.Writer, dir, prefix string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := path.Join(prefix, filepath.ToSlash(rel))
		if name == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return writeEntry(tw, p, name, info)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// writeEntry writes one file, directory or symlink.
func writeEntry(tw *tar.Writer, p, name string, info fs.FileInfo) error {
	h := &tar.Header{Name: name, Mode: int64(unixMode(info.Mode())), ModTime: info.ModTime()}
	switch mode := info.Mode(); {
	case mode.IsDir():
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		h.Typeflag, h.Linkname = tar.TypeSymlink, target
	case mode.IsRegular():
		h.Typeflag, h.Size = tar.TypeReg, info.Size()
	default:
		return fmt.Errorf("copy %s: unsupported file type %s", p, mode.Type())
	}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("copy %s: %w", p, err)
	}
	if h.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	// CopyN: a file that grew since Lstat must not overrun its header's size.
	if _, err := io.CopyN(tw, f, h.Size); err != nil {
		return fmt.Errorf("copy %s: %w", p, err)
	}
	return nil
}
