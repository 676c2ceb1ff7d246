package allocator

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// Repair makes the bitmaps agree with the stored Services. A value a Service holds but the
// bitmap lacks (a bitmap lost, rolled back, or made for another range) is marked at once: that
// is always safe, and it must happen before the first allocation after a start. A value the
// bitmap holds but no Service does is freed only when LeakPasses consecutive passes found it
// so: between a reservation and the write that stores the Service (or between a delete and its
// release) the two legitimately disagree, on this server or on another one sharing the etcd,
// and freeing such a value early would hand it out twice. So a leak lives on for at least
// (LeakPasses-1) RepairIntervals, also across a restart.
func (a *Services) Repair(ctx context.Context) error {
	a.repairMu.Lock()
	defer a.repairMu.Unlock()
	svcs, err := a.cfg.ListServices(ctx)
	if err != nil {
		return fmt.Errorf("listing services for repair: %w", err)
	}
	heldIPs := map[int]string{}
	heldNP := map[int]string{}
	for _, svc := range svcs {
		name := svc.Namespace + "/" + svc.Name
		if ip := heldIP(svc); ip != "" {
			addr, err := netip.ParseAddr(ip)
			off, ok := a.cfg.ServiceCIDR.Offset(addr)
			switch {
			case err != nil:
				a.log.Warn("service has an unparsable cluster IP", "service", name, "ip", ip)
			case !ok:
				a.log.Warn("service's cluster IP is outside the service range", "service", name, "ip", ip, "range", a.cfg.ServiceCIDR.String())
			case heldIPs[off] != "":
				a.log.Error("cluster IP is held by two services", "ip", ip, "service", name, "other", heldIPs[off])
			default:
				heldIPs[off] = name
			}
		}
		for np := range heldPorts(svc) {
			off, ok := a.cfg.NodePorts.Offset(int(np))
			switch {
			case !ok:
				a.log.Warn("service's node port is outside the node port range", "service", name, "port", np, "range", a.cfg.NodePorts.String())
			case heldNP[off] != "" && heldNP[off] != name:
				a.log.Error("node port is held by two services", "port", np, "service", name, "other", heldNP[off])
			default:
				heldNP[off] = name
			}
		}
	}
	if err := a.repairRange(ctx, a.ips, heldIPs, a.ipLeaks, func(off int) string { return a.cfg.ServiceCIDR.Addr(off).String() }); err != nil {
		return fmt.Errorf("repairing cluster IPs: %w", err)
	}
	if err := a.repairRange(ctx, a.ports, heldNP, a.npLeaks, func(off int) string { return fmt.Sprint(a.cfg.NodePorts.Base + off) }); err != nil {
		return fmt.Errorf("repairing node ports: %w", err)
	}
	return nil
}

func (a *Services) repairRange(ctx context.Context, r *Range, held map[int]string, leaks map[int]int, show func(int) string) error {
	var marked, freed []int
	var seen map[int]int
	err := r.update(ctx, func(b *Bitmap) error {
		marked, freed, seen = nil, nil, map[int]int{}
		for off := range held {
			if b.Set(off) {
				marked = append(marked, off)
			}
		}
		b.Each(func(off int) {
			if _, ok := held[off]; ok {
				return
			}
			seen[off] = leaks[off] + 1
		})
		for off, n := range seen {
			if n >= a.cfg.LeakPasses {
				b.Clear(off)
				freed = append(freed, off)
				delete(seen, off)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	clear(leaks)
	for off, n := range seen {
		leaks[off] = n
	}
	for _, off := range marked {
		a.log.Warn("marked a value held by a service but missing from the allocation", "key", r.key, "value", show(off), "service", held[off])
	}
	for _, off := range freed {
		a.log.Info("freed a value no service holds", "key", r.key, "value", show(off), "passes", a.cfg.LeakPasses)
	}
	if len(seen) > 0 {
		a.log.Debug("values allocated but held by no service yet", "key", r.key, "count", len(seen))
	}
	return nil
}

// RunRepair repairs every RepairInterval until ctx is done.
func (a *Services) RunRepair(ctx context.Context) {
	t := time.NewTicker(a.cfg.RepairInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.Repair(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("service allocation repair failed", "err", err)
			}
		}
	}
}
