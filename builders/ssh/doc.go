// Package ssh reaches a builder's machine over SSH: Dial waits for a booting
// instance to accept a key, and the Client's Communicator runs provisioners
// there (stages.Communicator).
//
// # Connecting
//
// A cloud instance refuses connections, drops them mid-handshake and rejects
// keys (cloud-init has not installed them yet) for a while after it starts,
// so Dial retries every failure with a growing delay until Config.Timeout
// (Packer's ssh_timeout). Only a host key that differs from Config.HostKey
// stops it at once: waiting would not change the key, and the mismatch may
// be an attack.
//
// # Commands
//
// Every call opens its own session on the one connection, so a Communicator
// is safe for concurrent use. Commands always run under /bin/sh, whatever the
// login shell is, inside a small wrapper (see wrapper.go) that lets a
// cancelled Run kill the whole command, not just its shell. Environment
// variables are passed as export assignments in the command line, because
// sshd's AcceptEnv is usually off. A Cmd.User other than the login user runs
// through "sudo -n", as Packer's execute_command does for cloud images whose
// login user is not root.
//
// # Files
//
// Uploads stream through cat into a temporary name beside the destination
// that is renamed into place only after the whole stream arrived, so a
// failed upload never leaves a truncated file. Directories travel as a tar
// stream built in Go (modes and symlinks kept) and unpacked by the machine's
// tar, which GNU and busybox both provide.
package ssh
