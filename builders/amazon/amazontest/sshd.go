package amazontest

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultSSHDBaseDir is where SSHDRunner keeps snapshots and instance root
// filesystems unless SSHDOptions.BaseDir says otherwise. Every component of
// an sshd ChrootDirectory must be root-owned and not group- or
// world-writable, so this cannot be under /tmp.
const DefaultSSHDBaseDir = "/var/lib/pipe-fake-ec2"

// SSHDOptions configure an SSHDRunner.
type SSHDOptions struct {
	// BaseDir holds one private directory per runner (removed by Close);
	// "" means DefaultSSHDBaseDir. It is created 0755 if missing, and each
	// of its components must be root-owned and not group/world-writable.
	BaseDir string
	// SSHD, Busybox and Bash are the host binaries used; "" means
	// /usr/sbin/sshd, /bin/busybox (busybox-static) and /bin/bash-static
	// (bash-static).
	SSHD, Busybox, Bash string
	// StartTimeout bounds how long Start waits for sshd to accept
	// connections; 0 means 10s.
	StartTimeout time.Duration
}

func (o *SSHDOptions) defaults() {
	if o.BaseDir == "" {
		o.BaseDir = DefaultSSHDBaseDir
	}
	if o.SSHD == "" {
		o.SSHD = "/usr/sbin/sshd"
	}
	if o.Busybox == "" {
		o.Busybox = "/bin/busybox"
	}
	if o.Bash == "" {
		o.Bash = "/bin/bash-static"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 10 * time.Second
	}
}

// SSHDRunner runs each instance as a real sshd on 127.0.0.1, chrooted into
// the instance's root filesystem. Only root may log in, with the instance's
// key pair. It needs root privileges.
type SSHDRunner struct {
	opts      SSHDOptions
	dir       string // private directory under BaseDir
	mu        sync.Mutex
	stock     string // built stock root filesystem, copied by SeedSnapshot
	instances map[string]*sshdInstance
	closed    bool
}

type sshdInstance struct {
	dir, root string
	hostKey   ssh.Signer
	cmd       *exec.Cmd
	done      chan struct{}
	port      int
}

// CheckSSHD reports why an SSHDRunner cannot run here (not root, a
// binary missing, a bad BaseDir), or nil.
func CheckSSHD(opts SSHDOptions) error {
	opts.defaults()
	if os.Geteuid() != 0 {
		return errors.New("SSHDRunner needs root (sshd ChrootDirectory)")
	}
	for _, p := range []string{opts.SSHD, opts.Busybox, opts.Bash, "/bin/cp"} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("SSHDRunner needs %s (packages openssh-server, busybox-static, bash-static): %w", p, err)
		}
	}
	return checkChrootComponents(opts.BaseDir, true)
}

// checkChrootComponents verifies that every existing component of path is
// a root-owned directory not writable by group or others, as sshd demands
// of a ChrootDirectory. With missingOK, components that do not exist yet
// pass (they will be created 0755).
func checkChrootComponents(path string, missingOK bool) error {
	path = filepath.Clean(path)
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s: must be absolute", path)
	}
	p := "/"
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i := -1; i < len(parts); i++ {
		if i >= 0 {
			p = filepath.Join(p, parts[i])
		}
		fi, err := os.Lstat(p)
		if os.IsNotExist(err) && missingOK {
			return nil
		}
		if err != nil {
			return err
		}
		uid := -1
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid = int(st.Uid)
		}
		if !fi.IsDir() || uid != 0 || fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("%s: every component of an sshd ChrootDirectory must be a root-owned directory not writable by group or others (%s is %v, uid %d); use a directory like %s", path, p, fi.Mode(), uid, DefaultSSHDBaseDir)
		}
	}
	return nil
}

// NewSSHDRunner checks the host (see CheckSSHD) and creates the runner's
// private directory under opts.BaseDir.
func NewSSHDRunner(opts SSHDOptions) (*SSHDRunner, error) {
	opts.defaults()
	if err := CheckSSHD(opts); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.BaseDir, 0o755); err != nil {
		return nil, err
	}
	if err := checkChrootComponents(opts.BaseDir, false); err != nil {
		return nil, err
	}
	// sshd's privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(opts.BaseDir, "run-")
	if err != nil {
		return nil, err
	}
	for _, d := range []string{dir, filepath.Join(dir, "snapshots"), filepath.Join(dir, "instances")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	return &SSHDRunner{opts: opts, dir: dir, instances: map[string]*sshdInstance{}}, nil
}

// Dir is the runner's private directory: snapshots/<snap-id> and
// instances/<instance-id>/{root,sshd_config,sshd.log,…}.
func (r *SSHDRunner) Dir() string { return r.dir }

func (r *SSHDRunner) snapshotDir(id string) string { return filepath.Join(r.dir, "snapshots", id) }

// SeedSnapshot fills snapshot id with the stock root filesystem (built
// once per runner).
func (r *SSHDRunner) SeedSnapshot(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stock == "" {
		stock := filepath.Join(r.dir, "stock")
		if err := os.MkdirAll(stock, 0o755); err != nil {
			return err
		}
		if err := buildRootFS(stock, r.opts.Busybox, r.opts.Bash); err != nil {
			return fmt.Errorf("building the stock root filesystem: %w", err)
		}
		r.stock = stock
	}
	return copyTree(r.stock, r.snapshotDir(id))
}

// Start boots instance id (see Runner.Start) and waits until its sshd
// accepts connections.
func (r *SSHDRunner) Start(id, rootSnapshotID string, authorizedKey []byte) (Endpoint, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Endpoint{}, errors.New("runner closed")
	}
	inst := r.instances[id]
	if inst == nil {
		inst = &sshdInstance{dir: filepath.Join(r.dir, "instances", id)}
		inst.root = filepath.Join(inst.dir, "root")
		if err := os.MkdirAll(inst.root, 0o755); err != nil {
			return Endpoint{}, err
		}
		if rootSnapshotID != "" {
			if err := copyTree(r.snapshotDir(rootSnapshotID), inst.root); err != nil {
				return Endpoint{}, fmt.Errorf("restoring %s: %w", rootSnapshotID, err)
			}
		}
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Endpoint{}, err
		}
		if inst.hostKey, err = ssh.NewSignerFromKey(priv); err != nil {
			return Endpoint{}, err
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			return Endpoint{}, err
		}
		if err := os.WriteFile(filepath.Join(inst.dir, "ssh_host_ed25519_key"), pem.EncodeToMemory(block), 0o600); err != nil {
			return Endpoint{}, err
		}
		// sshd reads AuthorizedKeysFile before it chroots: keep it outside
		// the instance's root filesystem.
		if err := os.WriteFile(filepath.Join(inst.dir, "authorized_keys"), authorizedKey, 0o600); err != nil {
			return Endpoint{}, err
		}
		r.instances[id] = inst
	}
	if inst.cmd != nil {
		return Endpoint{Port: inst.port, HostKey: inst.hostKey.PublicKey()}, nil
	}
	// The chroot itself must be root-owned and 0755 whatever the image did.
	if err := os.Chown(inst.root, 0, 0); err != nil {
		return Endpoint{}, err
	}
	if err := os.Chmod(inst.root, 0o755); err != nil {
		return Endpoint{}, err
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = r.startSSHD(inst); err == nil || !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	if err != nil {
		return Endpoint{}, err
	}
	return Endpoint{Port: inst.port, HostKey: inst.hostKey.PublicKey()}, nil
}

const sshdConfig = `# amazontest fake EC2 instance
Port %d
ListenAddress 127.0.0.1
AddressFamily inet
HostKey %s
PidFile none
AuthorizedKeysFile %s
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers root
UsePAM no
StrictModes no
ChrootDirectory %s
Subsystem sftp internal-sftp
PrintMotd no
PrintLastLog no
UseDNS no
X11Forwarding no
MaxStartups 100
MaxSessions 100
LogLevel VERBOSE
`

// startSSHD starts sshd on a free port and waits for its banner.
func (r *SSHDRunner) startSSHD(inst *sshdInstance) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	cfg := filepath.Join(inst.dir, "sshd_config")
	content := fmt.Sprintf(sshdConfig, port, filepath.Join(inst.dir, "ssh_host_ed25519_key"),
		filepath.Join(inst.dir, "authorized_keys"), inst.root)
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(inst.dir, "sshd.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	// -E, not -e: with -e a session's log lines (like "Changed root
	// directory to …") end up in the session's stderr.
	cmd := exec.Command(r.opts.SSHD, "-D", "-E", logPath, "-f", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(r.opts.StartTimeout)
	for {
		select {
		case <-done:
			return fmt.Errorf("sshd exited at start: %s", tail(logPath))
		default:
		}
		if banner(port) {
			inst.cmd, inst.done, inst.port = cmd, done, port
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("sshd did not accept connections within %v: %s", r.opts.StartTimeout, tail(logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// banner reports whether an SSH server answers on 127.0.0.1:port.
func banner(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last lines of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, " | ")
}

// stop kills the instance's sshd, its sessions and every process
// chrooted into its root filesystem.
func (inst *sshdInstance) stop() {
	if inst.cmd == nil {
		return
	}
	pids := descendants(inst.cmd.Process.Pid)
	pids = append(pids, chrooted(inst.root)...)
	killAll(pids)
	_ = inst.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-inst.done:
	case <-time.After(5 * time.Second):
		_ = inst.cmd.Process.Kill()
		<-inst.done
	}
	killAll(chrooted(inst.root))
	inst.cmd, inst.done, inst.port = nil, nil, 0
}

// Stop stops the instance's sshd and keeps its root filesystem.
func (r *SSHDRunner) Stop(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	inst, ok := r.instances[id]
	if !ok {
		return fmt.Errorf("no instance %s", id)
	}
	inst.stop()
	return nil
}

// Destroy stops the instance and removes its directory.
func (r *SSHDRunner) Destroy(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	inst, ok := r.instances[id]
	if !ok {
		return fmt.Errorf("no instance %s", id)
	}
	inst.stop()
	delete(r.instances, id)
	return os.RemoveAll(inst.dir)
}

// Snapshot copies the instance's root filesystem into snapshot snapID.
func (r *SSHDRunner) Snapshot(id, snapID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	inst, ok := r.instances[id]
	if !ok {
		return fmt.Errorf("no instance %s", id)
	}
	return copyTree(inst.root, r.snapshotDir(snapID))
}

// CopySnapshot copies snapshot src into snapshot dst.
func (r *SSHDRunner) CopySnapshot(src, dst string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := os.Stat(r.snapshotDir(src)); err != nil {
		return err
	}
	return copyTree(r.snapshotDir(src), r.snapshotDir(dst))
}

// DeleteSnapshot removes snapshot id.
func (r *SSHDRunner) DeleteSnapshot(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return os.RemoveAll(r.snapshotDir(id))
}

// Close stops every instance and removes the runner's directory (and
// BaseDir when that is left empty).
func (r *SSHDRunner) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	for _, inst := range r.instances {
		inst.stop()
	}
	r.instances = nil
	err := os.RemoveAll(r.dir)
	_ = os.Remove(r.opts.BaseDir) // only succeeds when empty
	return err
}
