package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// writer owns the proxy's table in one network namespace and applies deltas to it over netlink.
type writer struct {
	mu    sync.Mutex
	conn  *nftables.Conn
	nsFd  *os.File
	table *nftables.Table
}

// socketBuffer is the netlink socket's buffer size: the kernel acknowledges every message of a
// batch, and a full receive buffer fails the whole batch with ENOBUFS.
const socketBuffer = 16 << 20

// maxBatch bounds the messages of one netlink batch; larger deltas are cut between owners.
const maxBatch = 20000

func openWriter(netnsPath, table string) (*writer, error) {
	w := &writer{table: &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}}
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(func(c *netlink.Conn) error {
		if err := c.SetReadBuffer(socketBuffer); err != nil {
			return err
		}
		return c.SetWriteBuffer(socketBuffer)
	})}
	if netnsPath != "" {
		f, err := os.Open(netnsPath)
		if err != nil {
			return nil, fmt.Errorf("node network namespace: %w", err)
		}
		w.nsFd = f
		opts = append(opts, nftables.WithNetNSFd(int(f.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		w.close()
		return nil, fmt.Errorf("nftables netlink: %w", err)
	}
	w.conn = c
	return w, nil
}

func (w *writer) close() {
	if w.conn != nil {
		w.conn.CloseLasting()
	}
	if w.nsFd != nil {
		w.nsFd.Close()
	}
}

// exists reports whether the table is there.
func (w *writer) exists() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.conn.ListTableOfFamily(w.table.Name, w.table.Family)
	if errors.Is(err, unix.ENOENT) || err != nil && strings.Contains(err.Error(), "no such file") {
		return false, nil
	}
	return err == nil, err
}

// deleteTable removes the table and everything in it; a missing table is not an error.
func (w *writer) deleteTable() error {
	ok, err := w.exists()
	if err != nil || !ok {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conn.DelTable(w.table)
	if err := w.conn.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete table %s: %w", w.table.Name, err)
	}
	return nil
}

func (w *writer) fixedMap(name string) *nftables.Set {
	s := &nftables.Set{Table: w.table, Name: name, IsMap: true, DataType: nftables.TypeVerdict}
	switch fixedMaps[name] {
	case keyIPProtoPort:
		s.KeyType = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	default:
		s.KeyType = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	}
	s.Concatenation = true
	return s
}

// setup creates the table and its fixed maps when missing and rewrites the fixed chains, in one
// batch: a restart never leaves a moment without the rules that are there.
func (w *writer) setup(fixed []fixedChain) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	have := map[string]bool{}
	if _, err := w.conn.ListTableOfFamily(w.table.Name, w.table.Family); err == nil {
		sets, err := w.conn.GetSets(w.table)
		if err != nil {
			return fmt.Errorf("list sets of %s: %w", w.table.Name, err)
		}
		for _, s := range sets {
			have[s.Name] = true
		}
	}
	w.conn.AddTable(w.table)
	for _, name := range sortedKeys(fixedMaps) {
		if !have[name] {
			if err := w.conn.AddSet(w.fixedMap(name), nil); err != nil {
				return err
			}
		}
	}
	// Regular chains first: base chains jump to them.
	for _, regular := range []bool{true, false} {
		for _, c := range fixed {
			if (c.Hook == "") != regular {
				continue
			}
			w.conn.AddChain(w.chainFor(c))
		}
	}
	for _, c := range fixed {
		ch := &nftables.Chain{Table: w.table, Name: c.Name}
		w.conn.FlushChain(ch)
		for _, r := range c.Rules {
			if err := w.addRule(ch, r); err != nil {
				return fmt.Errorf("chain %s: %w", c.Name, err)
			}
		}
	}
	if err := w.conn.Flush(); err != nil {
		return fmt.Errorf("set up table %s: %w", w.table.Name, err)
	}
	return nil
}

func (w *writer) chainFor(c fixedChain) *nftables.Chain {
	ch := &nftables.Chain{Table: w.table, Name: c.Name}
	if c.Hook == "" {
		return ch
	}
	hooks := map[string]*nftables.ChainHook{"prerouting": nftables.ChainHookPrerouting, "input": nftables.ChainHookInput,
		"forward": nftables.ChainHookForward, "output": nftables.ChainHookOutput, "postrouting": nftables.ChainHookPostrouting}
	ch.Hooknum = hooks[c.Hook]
	ch.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(c.Priority))
	ch.Type = nftables.ChainTypeFilter
	if c.Type == "nat" {
		ch.Type = nftables.ChainTypeNAT
	}
	policy := nftables.ChainPolicyAccept
	ch.Policy = &policy
	return ch
}

// observed is what a table left by an earlier run holds: its per-owner chains (rules unknown),
// map elements and sets.
type observed struct {
	Chains   map[string]bool
	Elements map[elemKey]verdict
	Sets     map[string]bool
	// written holds the rules of chains this process wrote itself (a reconcile after a failed
	// batch need not rewrite them).
	written map[string][]rule
}

func (o *observed) known(chain string, rules []rule) {
	if o.written == nil {
		o.written = map[string][]rule{}
	}
	o.written[chain] = rules
}

func (o *observed) rules(chain string) []rule {
	if r, ok := o.written[chain]; ok {
		return r
	}
	return unknownRules
}

// read lists the table's chains, fixed map elements and other sets.
func (w *writer) read() (*observed, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	o := &observed{Chains: map[string]bool{}, Elements: map[elemKey]verdict{}, Sets: map[string]bool{}}
	if _, err := w.conn.ListTableOfFamily(w.table.Name, w.table.Family); err != nil {
		return o, nil // no table: nothing left
	}
	chains, err := w.conn.ListChainsOfTableFamily(w.table.Family)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	for _, c := range chains {
		if c.Table.Name == w.table.Name && !isFixedChain(c.Name) {
			o.Chains[c.Name] = true
		}
	}
	sets, err := w.conn.GetSets(w.table)
	if err != nil {
		return nil, fmt.Errorf("list sets: %w", err)
	}
	for _, s := range sets {
		kind, fixed := fixedMaps[s.Name]
		if !fixed {
			if !s.Anonymous && !strings.HasPrefix(s.Name, "__") {
				o.Sets[s.Name] = true
			}
			continue
		}
		elems, err := w.conn.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", s.Name, err)
		}
		for _, e := range elems {
			k, ok := decodeKey(s.Name, kind, e.Key)
			if !ok {
				continue
			}
			o.Elements[k] = decodeVerdict(e)
		}
	}
	return o, nil
}

// apply writes deltas in as few batches as fit maxBatch, each delta whole within one batch so
// that every owner changes atomically.
func (w *writer) apply(ds []*delta) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var cur delta
	n := 0
	flush := func() error {
		if cur.empty() {
			return nil
		}
		if err := w.queue(&cur); err != nil {
			return err
		}
		cur, n = delta{}, 0
		if err := w.conn.Flush(); err != nil {
			return fmt.Errorf("nftables batch on %s: %w", w.table.Name, err)
		}
		return nil
	}
	for _, d := range ds {
		if n > 0 && n+d.size() > maxBatch {
			if err := flush(); err != nil {
				return err
			}
		}
		cur.merge(d)
		n += d.size()
	}
	return flush()
}

// queue appends the messages of one delta to the connection's batch, in the delta's phase order.
func (w *writer) queue(d *delta) error {
	sets := map[string]*nftables.Set{}
	for _, s := range d.AddSets {
		set := &nftables.Set{Table: w.table, Name: s.Name, KeyType: nftables.TypeIPAddr, Dynamic: true,
			HasTimeout: true, Timeout: s.Timeout}
		if err := w.conn.AddSet(set, nil); err != nil {
			return err
		}
		sets[s.Name] = set
	}
	for _, c := range d.AddChains {
		w.conn.AddChain(&nftables.Chain{Table: w.table, Name: c})
	}
	for _, cw := range d.WriteChains {
		ch := &nftables.Chain{Table: w.table, Name: cw.Name}
		w.conn.FlushChain(ch)
		for _, r := range cw.Rules {
			if err := w.addRuleSets(ch, r, sets); err != nil {
				return fmt.Errorf("chain %s: %w", cw.Name, err)
			}
		}
	}
	byMap := map[string][]nftables.SetElement{}
	for _, k := range d.DelElems {
		byMap[k.Map] = append(byMap[k.Map], nftables.SetElement{Key: encodeKey(k)})
	}
	for _, m := range sortedKeys(byMap) {
		if err := w.conn.SetDeleteElements(w.fixedMap(m), byMap[m]); err != nil {
			return err
		}
	}
	byMap = map[string][]nftables.SetElement{}
	for _, e := range d.AddElems {
		v := &expr.Verdict{Kind: expr.VerdictDrop}
		if e.Verdict.Chain != "" {
			v = &expr.Verdict{Kind: expr.VerdictGoto, Chain: e.Verdict.Chain}
		}
		byMap[e.Key.Map] = append(byMap[e.Key.Map], nftables.SetElement{Key: encodeKey(e.Key), VerdictData: v})
	}
	for _, m := range sortedKeys(byMap) {
		if err := w.conn.SetAddElements(w.fixedMap(m), byMap[m]); err != nil {
			return err
		}
	}
	for _, c := range d.DelChains {
		ch := &nftables.Chain{Table: w.table, Name: c}
		w.conn.FlushChain(ch)
	}
	for _, c := range d.DelChains {
		w.conn.DelChain(&nftables.Chain{Table: w.table, Name: c})
	}
	for _, s := range d.DelSets {
		w.conn.DelSet(&nftables.Set{Table: w.table, Name: s})
	}
	return nil
}

// decodeVerdict reads a vmap element's verdict: the library hands it over undecoded, as the
// nested attributes NFTA_VERDICT_CODE (1) and NFTA_VERDICT_CHAIN (2).
func decodeVerdict(e nftables.SetElement) verdict {
	if e.VerdictData != nil {
		return verdict{Chain: e.VerdictData.Chain}
	}
	ad, err := netlink.NewAttributeDecoder(e.Val)
	if err != nil {
		return verdict{}
	}
	v := verdict{}
	for ad.Next() {
		if ad.Type() == unix.NFTA_VERDICT_CHAIN {
			v.Chain = strings.TrimRight(ad.String(), "\x00")
		}
	}
	return v
}

// encodeKey lays a key out as nftables does for concatenations: every field padded to 4 bytes.
func encodeKey(k elemKey) []byte {
	var b []byte
	if k.IP.IsValid() {
		a := k.IP.As4()
		b = append(b, a[:]...)
	}
	b = append(b, k.Proto, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, k.Port)
	return append(b, 0, 0)
}

func decodeKey(m string, kind mapKind, b []byte) (elemKey, bool) {
	k := elemKey{Map: m}
	if kind == keyIPProtoPort {
		if len(b) != 12 {
			return k, false
		}
		k.IP = netip.AddrFrom4([4]byte(b[:4]))
		b = b[4:]
	}
	if len(b) != 8 {
		return k, false
	}
	k.Proto = b[0]
	k.Port = binary.BigEndian.Uint16(b[4:6])
	return k, true
}

func (w *writer) addRule(ch *nftables.Chain, r rule) error {
	return w.addRuleSets(ch, r, nil)
}

// addRuleSets translates one rule; sets created in the same batch are in sets (by name).
func (w *writer) addRuleSets(ch *nftables.Chain, r rule, sets map[string]*nftables.Set) error {
	var exprs []expr.Any
	for _, s := range r {
		e, err := w.exprs(s, sets)
		if err != nil {
			return err
		}
		exprs = append(exprs, e...)
	}
	w.conn.AddRule(&nftables.Rule{Table: w.table, Chain: ch, Exprs: exprs})
	return nil
}

// Registers: reg 1 is the first 16-byte register, which the kernel also addresses as the 4-byte
// registers 8 to 11; concatenations load their fields into consecutive 4-byte registers.
const (
	reg1    = 1
	reg32_1 = 9
	reg32_2 = 10
	reg2    = 2
)

func loadSaddr(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
}
func loadDaddr(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}
}
func loadDport(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
}

func prefixMatch(load expr.Any, p netip.Prefix, op expr.CmpOp) []expr.Any {
	mask := net4Mask(p.Bits())
	a := p.Masked().Addr().As4()
	return []expr.Any{load,
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: op, Register: reg1, Data: a[:]}}
}

func net4Mask(bits int) []byte {
	m := uint32(0)
	if bits > 0 {
		m = ^uint32(0) << (32 - bits)
	}
	return binary.BigEndian.AppendUint32(nil, m)
}

func fibType(src bool) []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: reg1, ResultADDRTYPE: true, FlagSADDR: src, FlagDADDR: !src},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

func markBits(mask, xor uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: binaryutil.NativeEndian.PutUint32(xor)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
	}
}

func (w *writer) exprs(s stmt, sets map[string]*nftables.Set) ([]expr.Any, error) {
	switch s := s.(type) {
	case srcIs:
		a := s.IP.As4()
		return []expr.Any{loadSaddr(reg1), &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: a[:]}}, nil
	case srcIn:
		return prefixMatch(loadSaddr(reg1), s.Prefix, expr.CmpOpEq), nil
	case srcNotIn:
		return prefixMatch(loadSaddr(reg1), s.Prefix, expr.CmpOpNeq), nil
	case dstIn:
		return prefixMatch(loadDaddr(reg1), s.Prefix, expr.CmpOpEq), nil
	case dstNotIn:
		return prefixMatch(loadDaddr(reg1), s.Prefix, expr.CmpOpNeq), nil
	case l4protoIs:
		return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{s.Proto}}}, nil
	case fibSrcLocal:
		return fibType(true), nil
	case fibDstLocal:
		return fibType(false), nil
	case ctNew:
		return []expr.Any{
			&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{0, 0, 0, 0}},
		}, nil
	case markClear:
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(masqBit), Xor: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{0, 0, 0, 0}},
		}, nil
	case srcInSet:
		l := &expr.Lookup{SourceRegister: reg1, SetName: s.Set}
		if set, ok := sets[s.Set]; ok {
			l.SetID = set.ID
		}
		return []expr.Any{loadSaddr(reg1), l}, nil
	case dstProtoPortVmap:
		return []expr.Any{loadDaddr(reg1), &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32_1}, loadDport(reg32_2),
			&expr.Lookup{SourceRegister: reg1, SetName: s.Map, DestRegister: 0, IsDestRegSet: true}}, nil
	case protoPortVmap:
		return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1}, loadDport(reg32_1),
			&expr.Lookup{SourceRegister: reg1, SetName: s.Map, DestRegister: 0, IsDestRegSet: true}}, nil
	case jumpTo:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: s.Chain}}, nil
	case gotoChain:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictGoto, Chain: s.Chain}}, nil
	case returnV:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictReturn}}, nil
	case numgenVmap:
		if len(s.Chains) == 0 {
			return nil, errors.New("numgen over no chains")
		}
		m := &nftables.Set{Table: w.table, Anonymous: true, Constant: true, IsMap: true,
			KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict}
		elems := make([]nftables.SetElement, len(s.Chains))
		for i, c := range s.Chains {
			elems[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)),
				VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: c}}
		}
		if err := w.conn.AddSet(m, elems); err != nil {
			return nil, err
		}
		return []expr.Any{
			&expr.Numgen{Register: reg1, Modulus: uint32(len(s.Chains)), Type: unix.NFT_NG_RANDOM},
			&expr.Lookup{SourceRegister: reg1, SetName: m.Name, SetID: m.ID, DestRegister: 0, IsDestRegSet: true},
		}, nil
	case dnatTo:
		a := s.IP.As4()
		return []expr.Any{
			&expr.Immediate{Register: reg1, Data: a[:]},
			&expr.Immediate{Register: reg2, Data: binaryutil.BigEndian.PutUint16(s.Port)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: reg2, Specified: true},
		}, nil
	case masquerade:
		return []expr.Any{&expr.Masq{FullyRandom: true}}, nil
	case setMasqBit:
		return markBits(^uint32(masqBit), masqBit), nil
	case flipMasqBit:
		return markBits(^uint32(0), masqBit), nil
	case rejectTCP:
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}, nil
	case rejectICMP:
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3}}, nil
	case updateSet:
		d := &expr.Dynset{SrcRegKey: reg1, SetName: s.Set, Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: s.Timeout}
		if set, ok := sets[s.Set]; ok {
			d.SetID = set.ID
		}
		return []expr.Any{loadSaddr(reg1), d}, nil
	}
	return nil, fmt.Errorf("no netlink form for %T", s)
}
