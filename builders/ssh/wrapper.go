package ssh

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/pipebuild/pipe/stages"
)

// remote is a command line for the login shell, and the line that kills it.
//
// sshd runs a command under the login shell, without a terminal, as the
// leader of a new session and process group. Closing the session signals
// nothing, and the SSH "signal" request reaches the leader alone (OpenSSH
// refuses it outright for root logins, which run without privilege
// separation). A SIGKILL to the leader would leave its children, the
// `sleep` or the `apt-get`, running on, and the group nameless. So every
// command runs in a wrapper /bin/sh (which also makes the command's shell
// /bin/sh, whatever the login shell is) that carries a random tag in its
// command line and stays the group's leader; to cancel, a second session
// finds the tagged process and SIGKILLs its process group. Only processes
// that leave the group (setsid daemons) survive, as they do on the host.
type remote struct {
	line, kill string
}

// wrapper runs the command in its own shell, so that the command's syntax
// and `exit` stay its own, and the wrapper's `exit $?` keeps a shell from
// exec'ing that last command in place of the tagged wrapper. The wrapper's
// own stderr is /dev/null and the command's the session's (kept on fd 4
// meanwhile, and set inside a subshell): a shell reports a child killed by
// a signal ("Killed") on the stderr of the command's redirections, and the
// command run directly would print no such thing.
const wrapper = `: %s; exec 4>&2 2>/dev/null; %s(exec /bin/sh -c %s 2>&4 4>&-); exit $?`

// killScript SIGKILLs the process groups of wrappers tagged %[1]s, without
// pgrep where there is none (a minimal image). The tag is assembled at run
// time, so that the killer's own command line does not carry it, and only a
// command line that starts as the wrapper's matches: the login shell's
// carries the tag too until it execs the wrapper, and killing it amid its
// startup files (a .bashrc holding a lock) would do harm of its own.
const killScript = `t=pipe-run-; t="/bin/sh -c : ${t}%[1]s;"; pids=
if command -v pgrep >/dev/null 2>&1; then pids=$(pgrep -f "^$t")
else for d in /proc/[0-9]*; do case $(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) in "$t"*) pids="$pids ${d#/proc/}";; esac; done
fi
for p in $pids; do kill -s KILL -- "-$p" 2>/dev/null; kill -s KILL "$p" 2>/dev/null; done; :`

// newRemote returns the lines that run command with the given export
// assignments through prefix ("" or a sudo invocation ending in " -- "),
// and kill it.
func newRemote(prefix, exports, command string) (remote, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return remote{}, fmt.Errorf("tag command: %w", err)
	}
	token := hex.EncodeToString(b[:])
	return remote{
		line: "exec " + prefix + "/bin/sh -c " + quote(fmt.Sprintf(wrapper, "pipe-run-"+token, exports, quote(command))),
		kill: "exec " + prefix + "/bin/sh -c " + quote(fmt.Sprintf(killScript, token)),
	}, nil
}

// commandLine returns the lines that run cmd in a session of the login
// user.
func commandLine(cmd *stages.Cmd, login string) (remote, error) {
	env, err := exports(cmd.Env)
	if err != nil {
		return remote{}, err
	}
	if cmd.User == "" || cmd.User == login {
		return newRemote("", env, cmd.Command)
	}
	sudo, err := sudoArgs(cmd.User)
	if err != nil {
		return remote{}, err
	}
	return newRemote(sudo+" -- ", env, cmd.Command)
}

// sudoArgs returns the sudo invocation that switches to user, "name" or
// "uid[:gid]" as the shell provisioner's user: takes it. -n fails at once
// instead of waiting for a password nobody will type; cloud images give
// their login user passwordless sudo.
func sudoArgs(user string) (string, error) {
	u, g, hasGroup := strings.Cut(user, ":")
	if u == "" || (hasGroup && g == "") {
		return "", fmt.Errorf("user %q: want a name or uid[:gid]", user)
	}
	args := "sudo -n -u " + quote(sudoID(u))
	if hasGroup {
		args += " -g " + quote(sudoID(g))
	}
	return args, nil
}

// sudoID writes a numeric id as sudo wants it, "#1000".
func sudoID(s string) string {
	if strings.Trim(s, "0123456789") == "" {
		return "#" + s
	}
	return s
}
