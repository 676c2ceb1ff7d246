package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrExhausted is returned by Allocate when every usable address of the range is taken.
var ErrExhausted = errors.New("ipam: no free address left in range")

const (
	lockFile = ".lock"
	lastFile = ".last" // the address handed out last: where the round-robin scan resumes
	tmpGlob  = ".tmp-*"
)

// Allocation is one address held by one owner.
type Allocation struct {
	IP    netip.Addr
	Owner string
}

// Allocator hands out the addresses of one IPv4 prefix. It is safe for concurrent use, also by
// several processes sharing the directory (every operation holds an flock on the directory's lock
// file), although one node agent per directory is the expected setup.
type Allocator struct {
	dir     string
	prefix  netip.Prefix
	gateway netip.Addr
	first   netip.Addr // first address handed to pods
	last    netip.Addr // last address handed to pods (the one before broadcast)

	mu sync.Mutex
}

// New returns an allocator for prefix persisting under dir, which it creates. Only IPv4 prefixes
// of /30 or larger qualify: smaller ones leave no address once network, gateway and broadcast are
// reserved. The prefix is masked, so 10.0.0.7/24 means 10.0.0.0/24.
func New(dir string, prefix netip.Prefix) (*Allocator, error) {
	if !prefix.IsValid() || !prefix.Addr().Is4() {
		return nil, fmt.Errorf("ipam: pod CIDR %s: only IPv4 prefixes are supported", prefix)
	}
	if prefix.Bits() > 30 {
		return nil, fmt.Errorf("ipam: pod CIDR %s is too small: network, gateway and broadcast leave no address", prefix)
	}
	prefix = prefix.Masked()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ipam: %w", err)
	}
	network := prefix.Addr()
	broadcast := lastAddr(prefix)
	return &Allocator{
		dir:     dir,
		prefix:  prefix,
		gateway: network.Next(),
		first:   network.Next().Next(),
		last:    broadcast.Prev(),
	}, nil
}

// Prefix returns the (masked) range the allocator hands out from.
func (a *Allocator) Prefix() netip.Prefix { return a.prefix }

// Gateway returns the reserved first address of the range, which the node's bridge holds.
func (a *Allocator) Gateway() netip.Addr { return a.gateway }

// Allocate returns the address held by owner, allocating one if owner holds none. Calling it again
// for the same owner returns the same address, which makes a retried pod setup safe.
func (a *Allocator) Allocate(owner string) (netip.Addr, error) {
	if err := validOwner(owner); err != nil {
		return netip.Addr{}, err
	}
	var ip netip.Addr
	err := a.locked(func() error {
		all, err := a.read()
		if err != nil {
			return err
		}
		used := make(map[netip.Addr]bool, len(all))
		for _, al := range all {
			if al.Owner == owner && a.prefix.Contains(al.IP) {
				ip = al.IP
				return nil
			}
			used[al.IP] = true
		}
		start := a.first
		if prev, err := a.readLast(); err == nil && prev.Compare(a.first) >= 0 && prev.Compare(a.last) < 0 {
			start = prev.Next()
		}
		cand := start
		for {
			if !used[cand] {
				if err := a.claim(cand, owner); err == nil {
					ip = cand
					a.writeLast(cand)
					return nil
				} else if !errors.Is(err, os.ErrExist) {
					return err
				}
			}
			if cand == a.last {
				cand = a.first
			} else {
				cand = cand.Next()
			}
			if cand == start {
				return fmt.Errorf("%w %s", ErrExhausted, a.prefix)
			}
		}
	})
	return ip, err
}

// Lookup returns the address owner holds within the range, if any.
func (a *Allocator) Lookup(owner string) (netip.Addr, bool, error) {
	var ip netip.Addr
	found := false
	err := a.locked(func() error {
		all, err := a.read()
		if err != nil {
			return err
		}
		for _, al := range all {
			if al.Owner == owner && a.prefix.Contains(al.IP) {
				ip, found = al.IP, true
				return nil
			}
		}
		return nil
	})
	return ip, found, err
}

// Release gives back every address owner holds, also outside the current range (left over from
// an earlier pod CIDR). Releasing an owner that holds nothing is not an error.
func (a *Allocator) Release(owner string) error {
	return a.locked(func() error {
		all, err := a.read()
		if err != nil {
			return err
		}
		for _, al := range all {
			if al.Owner != owner {
				continue
			}
			if err := os.Remove(filepath.Join(a.dir, al.IP.String())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("ipam: release %s: %w", al.IP, err)
			}
		}
		return nil
	})
}

// List returns every allocation in the directory sorted by address, including those outside the
// current range, so that the caller can release the ones whose owner no longer exists.
func (a *Allocator) List() ([]Allocation, error) {
	var all []Allocation
	err := a.locked(func() error {
		var err error
		all, err = a.read()
		return err
	})
	return all, err
}

// Reset forgets every allocation and removes the directory: the node's pod network is gone.
func (a *Allocator) Reset() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := os.RemoveAll(a.dir); err != nil {
		return fmt.Errorf("ipam: reset: %w", err)
	}
	return nil
}

// locked runs fn holding both the in-process mutex and the directory's flock.
func (a *Allocator) locked(fn func() error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	// The directory may have been removed by Reset; recreating it keeps the allocator usable.
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return fmt.Errorf("ipam: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(a.dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("ipam: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("ipam: lock %s: %w", a.dir, err)
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return fn()
}

// read loads every allocation file; names that are not addresses (the lock, temp files) are not
// allocations.
func (a *Allocator) read() ([]Allocation, error) {
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return nil, fmt.Errorf("ipam: %w", err)
	}
	var all []Allocation
	for _, e := range entries {
		ip, err := netip.ParseAddr(e.Name())
		if err != nil || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(a.dir, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ipam: %w", err)
		}
		all = append(all, Allocation{IP: ip, Owner: strings.TrimSpace(string(b))})
	}
	slices.SortFunc(all, func(x, y Allocation) int { return x.IP.Compare(y.IP) })
	return all, nil
}

// claim writes the owner into a temp file and links it to the address's name: link fails if the
// name exists, so the claim is exclusive, and the file never exists without its owner in it. No
// fsync: the allocations only have to outlive the agent process, and after a machine crash every
// pod that held an address is gone anyway.
func (a *Allocator) claim(ip netip.Addr, owner string) error {
	tmp, err := os.CreateTemp(a.dir, tmpGlob)
	if err != nil {
		return fmt.Errorf("ipam: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(owner + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("ipam: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ipam: %w", err)
	}
	if err := os.Link(tmp.Name(), filepath.Join(a.dir, ip.String())); err != nil {
		if errors.Is(err, os.ErrExist) {
			return os.ErrExist
		}
		return fmt.Errorf("ipam: claim %s: %w", ip, err)
	}
	return nil
}

func (a *Allocator) readLast() (netip.Addr, error) {
	b, err := os.ReadFile(filepath.Join(a.dir, lastFile))
	if err != nil {
		return netip.Addr{}, err
	}
	return netip.ParseAddr(strings.TrimSpace(string(b)))
}

// writeLast records where the next scan starts. It is only a hint: losing it makes the next
// allocation start from the bottom of the range, which is still correct.
func (a *Allocator) writeLast(ip netip.Addr) {
	tmp, err := os.CreateTemp(a.dir, tmpGlob)
	if err != nil {
		return
	}
	_, werr := tmp.WriteString(ip.String() + "\n")
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), filepath.Join(a.dir, lastFile)) != nil {
		os.Remove(tmp.Name())
	}
}

func validOwner(owner string) error {
	if owner == "" || strings.TrimSpace(owner) != owner || strings.ContainsAny(owner, "\n\r\x00") {
		return fmt.Errorf("ipam: invalid owner %q", owner)
	}
	return nil
}

// lastAddr returns the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
