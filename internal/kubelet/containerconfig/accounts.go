package containerconfig

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Account is one /etc/passwd entry.
type Account struct {
	Name string
	UID  int64
	GID  int64
}

// Accounts answers user and group questions about a container's image.
type Accounts interface {
	// User finds a passwd entry by name or, for a numeric key, by uid.
	User(nameOrUID string) (Account, bool, error)
	// Group finds a gid by group name or, for a numeric key, checks the gid.
	Group(nameOrGID string) (int64, bool, error)
	// MemberOf lists the gids of the groups that name user as a member.
	MemberOf(user string) ([]int64, error)
}

// RootfsAccounts reads etc/passwd and etc/group inside an unpacked image
// root. The files are opened through os.Root, so a symlink planted in the
// image cannot make the node read its own /etc/passwd; missing files mean
// no entries.
type RootfsAccounts struct{ Root string }

func (r RootfsAccounts) lines(name string, fields int, fn func(f []string) bool) error {
	f, err := os.OpenInRoot(r.Root, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) < fields {
			continue
		}
		if fn(parts) {
			return nil
		}
	}
	return sc.Err()
}

func (r RootfsAccounts) User(key string) (Account, bool, error) {
	var (
		out   Account
		found bool
	)
	_, numErr := strconv.ParseInt(key, 10, 64)
	err := r.lines("etc/passwd", 4, func(f []string) bool {
		uid, err1 := strconv.ParseInt(f[2], 10, 64)
		gid, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if (numErr == nil && f[2] == key) || (numErr != nil && f[0] == key) {
			out, found = Account{Name: f[0], UID: uid, GID: gid}, true
			return true
		}
		return false
	})
	return out, found, err
}

func (r RootfsAccounts) Group(key string) (int64, bool, error) {
	if gid, err := strconv.ParseInt(key, 10, 64); err == nil {
		return gid, true, nil
	}
	var (
		gid   int64
		found bool
	)
	err := r.lines("etc/group", 3, func(f []string) bool {
		if f[0] != key {
			return false
		}
		g, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return false
		}
		gid, found = g, true
		return true
	})
	return gid, found, err
}

func (r RootfsAccounts) MemberOf(user string) ([]int64, error) {
	var gids []int64
	err := r.lines("etc/group", 4, func(f []string) bool {
		for _, m := range strings.Split(f[3], ",") {
			if strings.TrimSpace(m) == user {
				if g, err := strconv.ParseInt(f[2], 10, 64); err == nil {
					gids = append(gids, g)
				}
				break
			}
		}
		return false
	})
	return gids, err
}
