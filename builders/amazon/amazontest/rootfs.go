package amazontest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// requiredApplets are the busybox applets the stock root filesystem has in
// /bin even when busybox cannot list its own.
var requiredApplets = []string{"sh", "ls", "cat", "echo", "mkdir", "rm", "mv", "chmod", "chown", "tar",
	"sleep", "id", "env", "touch", "find", "sed", "grep", "test", "cp", "ln", "uname", "sync",
	"head", "tail", "wc", "cut", "tr", "sort", "xargs", "mktemp", "dirname", "basename", "printf",
	"true", "false", "stat", "date", "gzip", "hostname", "whoami", "sha256sum", "awk", "which",
	"readlink", "realpath", "install", "tee", "uniq", "kill", "ps", "df", "du"}

// buildRootFS writes the stock root filesystem of the fake's source image
// into dir: busybox-static with its applets, Debian's bash-static as
// /bin/bash (sshd runs root's login shell from the host's passwd, and a
// busybox symlink named bash does not work), /etc/passwd with root and
// admin, /tmp, /root, /home/admin and the basic /dev nodes.
func buildRootFS(dir, busybox, bash string) error {
	dirs := []struct {
		path string
		mode os.FileMode
	}{
		{"bin", 0o755}, {"sbin", 0o755}, {"usr/bin", 0o755}, {"usr/sbin", 0o755}, {"etc", 0o755},
		{"root", 0o700}, {"home/admin", 0o755}, {"tmp", 0o1777}, {"var/tmp", 0o1777}, {"var/log", 0o755},
		{"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"run", 0o755},
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	for _, d := range dirs {
		p := filepath.Join(dir, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(p, d.mode); err != nil {
			return err
		}
	}
	if err := os.Chown(filepath.Join(dir, "home/admin"), 1000, 1000); err != nil {
		return err
	}
	if err := copyFile(busybox, filepath.Join(dir, "bin/busybox"), 0o755); err != nil {
		return err
	}
	if err := copyFile(bash, filepath.Join(dir, "bin/bash"), 0o755); err != nil {
		return err
	}
	applets := map[string]bool{}
	if out, err := exec.Command(busybox, "--list-full").Output(); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if p := strings.TrimSpace(sc.Text()); p != "" {
				applets[p] = true
			}
		}
	}
	for _, a := range requiredApplets {
		applets["bin/"+a] = true
	}
	for p := range applets {
		if p == "bin/bash" || p == "bin/busybox" || strings.Contains(p, "..") {
			continue
		}
		dst := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/bin/busybox", dst); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd":         "root:x:0:0:root:/root:/bin/bash\nadmin:x:1000:1000:Debian:/home/admin:/bin/bash\n",
		"etc/group":          "root:x:0:\nadm:x:4:admin\nsudo:x:27:admin\nadmin:x:1000:\n",
		"etc/hostname":       "pipe-fake-ec2\n",
		"etc/hosts":          "127.0.0.1\tlocalhost pipe-fake-ec2\n",
		"etc/debian_version": "12.0\n",
		"etc/os-release": `PRETTY_NAME="Debian GNU/Linux 12 (bookworm) (pipe fake: busybox + bash-static)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`,
		"etc/profile": "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	nodes := []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}}
	for _, n := range nodes {
		p := filepath.Join(dir, "dev", n.name)
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("mknod %s: %w", p, err)
		}
		if err := os.Chmod(p, 0o666); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyTree copies the contents of directory src into directory dst
// (created 0755 if missing), keeping modes, owners, symlinks and device
// nodes (cp -a).
func copyTree(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	out, err := exec.Command("cp", "-a", "--", src+"/.", dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cp -a %s %s: %v: %s", src, dst, err, bytes.TrimSpace(out))
	}
	return nil
}
