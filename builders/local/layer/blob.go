package layer

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// gzipBlockSize is pgzip's unit of parallel work. It is fixed (not derived
// from the core count) because the compressed bytes depend on it, and the
// digest must not change with the machine.
const gzipBlockSize = 1 << 20

// blobWriter is the single pass of Capture: bytes written to it are the
// uncompressed tar; they are hashed into the diffID and compressed, and the
// compressed bytes are hashed into the digest and written to a temp file.
type blobWriter struct {
	path   string
	tmp    *os.File
	file   *bufio.Writer
	diffID hash.Hash
	digest hash.Hash
	size   countWriter
	zw     io.WriteCloser
	done   bool
}

func newBlobWriter(path, compression string) (*blobWriter, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	b := &blobWriter{path: path, tmp: tmp, diffID: sha256.New(), digest: sha256.New()}
	b.file = bufio.NewWriterSize(io.MultiWriter(tmp, b.digest, &b.size), 1<<20)
	if b.zw, err = newCompressor(b.file, compression); err != nil {
		b.abort()
		return nil, err
	}
	return b, nil
}

func newCompressor(w io.Writer, compression string) (io.WriteCloser, error) {
	switch compression {
	case "", Gzip:
		zw, err := pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
		if err != nil {
			return nil, err
		}
		// Two blocks in flight per core keeps every core busy while the
		// walk produces the next block.
		return zw, zw.SetConcurrency(gzipBlockSize, 2*runtime.GOMAXPROCS(0))
	case Zstd:
		// Concurrent blocks split the stream into jobs whose size depends on
		// the window, not the core count, so the bytes stay the same on any
		// machine (TestCaptureIsDeterministic checks one core against all).
		zw, err := zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithConcurrentBlocks(true))
		if err != nil {
			return nil, err // not zw: a nil *Encoder in an interface is not nil
		}
		return zw, nil
	}
	return nil, fmt.Errorf("unknown compression %q (want %q or %q)", compression, Gzip, Zstd)
}

func mediaType(compression string) (types.MediaType, error) {
	switch compression {
	case "", Gzip:
		return types.OCILayer, nil
	case Zstd:
		return types.OCILayerZStd, nil
	}
	return "", fmt.Errorf("unknown compression %q (want %q or %q)", compression, Gzip, Zstd)
}

// Write takes uncompressed tar bytes.
func (b *blobWriter) Write(p []byte) (int, error) {
	b.diffID.Write(p)
	return b.zw.Write(p)
}

// commit finishes the stream, makes the file durable and renames it to
// its final path.
func (b *blobWriter) commit(mt types.MediaType) (v1.Layer, error) {
	err := b.zw.Close()
	if err == nil {
		err = b.file.Flush()
	}
	if err == nil {
		err = b.tmp.Sync()
	}
	if err2 := b.tmp.Close(); err == nil {
		err = err2
	}
	if err != nil {
		return nil, fmt.Errorf("write blob %s: %w", b.tmp.Name(), err)
	}
	if err := os.Rename(b.tmp.Name(), b.path); err != nil {
		return nil, fmt.Errorf("write blob: %w", err)
	}
	b.done = true
	syncDir(filepath.Dir(b.path))
	return &blobLayer{
		path:      b.path,
		digest:    v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", b.digest.Sum(nil))},
		diffID:    v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", b.diffID.Sum(nil))},
		size:      int64(b.size),
		mediaType: mt,
	}, nil
}

// abort removes the temp file unless commit succeeded. Close errors are
// ignored: the blob is being thrown away.
func (b *blobWriter) abort() {
	if b.done {
		return
	}
	b.done = true
	if b.zw != nil {
		b.zw.Close()
	}
	b.tmp.Close()
	os.Remove(b.tmp.Name())
}

// syncDir makes a rename durable. Failure only weakens crash safety (the
// rename may be lost, never half-applied), so it is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// blobLayer is a v1.Layer backed by a compressed blob file whose hashes were
// computed while it was written.
type blobLayer struct {
	path           string
	digest, diffID v1.Hash
	size           int64
	mediaType      types.MediaType
}

var _ v1.Layer = (*blobLayer)(nil)

func (l *blobLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *blobLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *blobLayer) Size() (int64, error)                { return l.size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }
func (l *blobLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

// Uncompressed decompresses the blob file on the fly.
func (l *blobLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	var zr io.ReadCloser
	switch l.mediaType {
	case types.OCILayerZStd:
		var d *zstd.Decoder
		if d, err = zstd.NewReader(f); err == nil {
			zr = d.IOReadCloser()
		}
	default:
		zr, err = pgzip.NewReader(f)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open layer %s: %w", l.path, err)
	}
	return &closeBoth{Reader: zr, inner: zr, file: f}, nil
}

// closeBoth closes the decompressor and the file under it.
type closeBoth struct {
	io.Reader
	inner io.Closer
	file  *os.File
}

func (c *closeBoth) Close() error {
	return errors.Join(c.inner.Close(), c.file.Close())
}
