package machine

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
)

// identity is who a command runs as.
type identity struct {
	uid, gid uint32
	groups   []uint32
	name     string
	home     string
}

// lookupUser resolves a Cmd.User spec, "user[:group]" with names or
// numbers, against the machine's /etc/passwd and /etc/group (the helper is
// inside the tree, so these are the image's). "" is root.
func lookupUser(spec string) (*identity, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		userPart = "0"
	}
	id, err := lookupPasswd(userPart)
	if err != nil {
		return nil, err
	}
	groups, err := readColonFile("/etc/group")
	if err != nil {
		return nil, err
	}
	if hasGroup {
		gid, err := lookupGroup(groups, groupPart)
		if err != nil {
			return nil, err
		}
		id.gid = gid
	}
	// Supplementary groups are set even for root, so that pipe's own
	// never reach the command.
	id.groups = []uint32{}
	for _, g := range groups {
		if len(g) < 4 || id.name == "" {
			continue
		}
		gid, err := strconv.ParseUint(g[2], 10, 32)
		if err == nil && uint32(gid) != id.gid && slices.Contains(strings.Split(g[3], ","), id.name) {
			id.groups = append(id.groups, uint32(gid))
		}
	}
	return id, nil
}

// lookupPasswd finds a user by name or uid. A numeric uid that the image
// does not know still works, as in a container: gid 0 and home "/".
func lookupPasswd(user string) (*identity, error) {
	entries, err := readColonFile("/etc/passwd")
	if err != nil {
		return nil, err
	}
	uid, numErr := strconv.ParseUint(user, 10, 32)
	for _, e := range entries {
		if len(e) < 6 || (e[0] != user && (numErr != nil || e[2] != user)) {
			continue
		}
		u, err1 := strconv.ParseUint(e[2], 10, 32)
		g, err2 := strconv.ParseUint(e[3], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad /etc/passwd entry for %s in the machine", user)
		}
		return &identity{uid: uint32(u), gid: uint32(g), name: e[0], home: e[5]}, nil
	}
	switch {
	case numErr == nil && uid == 0:
		return &identity{home: "/root"}, nil
	case numErr == nil:
		return &identity{uid: uint32(uid), home: "/"}, nil
	}
	return nil, fmt.Errorf("user %q not found in the machine's /etc/passwd", user)
}

// lookupGroup finds a gid by group name or number.
func lookupGroup(groups [][]string, group string) (uint32, error) {
	if gid, err := strconv.ParseUint(group, 10, 32); err == nil {
		return uint32(gid), nil
	}
	for _, g := range groups {
		if len(g) >= 3 && g[0] == group {
			gid, err := strconv.ParseUint(g[2], 10, 32)
			if err != nil {
				return 0, fmt.Errorf("bad /etc/group entry for %s in the machine", group)
			}
			return uint32(gid), nil
		}
	}
	return 0, fmt.Errorf("group %q not found in the machine's /etc/group", group)
}

// readColonFile reads a passwd-style file into fields; a missing file is
// empty, as in a scratch image.
func readColonFile(p string) ([][]string, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the machine's %s: %w", p, err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the machine's %s: %w", p, err)
	}
	return out, nil
}
