package volumebinder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/skiff-dev/skiff/internal/localpath"
	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
	"github.com/skiff-dev/skiff/internal/scheduler/plugins"
	"github.com/skiff-dev/skiff/internal/volumematch"
)

// Annotations and names shared with the PV controller and the node agent.
const (
	// AnnSelectedNode on a claim names the node the scheduler chose; the provisioner places
	// the volume there.
	AnnSelectedNode = "volume.kubernetes.io/selected-node"
	// AnnBindCompleted on a claim says the PV controller finished binding it.
	AnnBindCompleted = "pv.kubernetes.io/bind-completed"
	// AnnBoundByController on a volume says a controller (here: the scheduler), not the user,
	// put its claimRef, so the PV controller may undo it.
	AnnBoundByController = "pv.kubernetes.io/bound-by-controller"
	// noProvisioner is the provisioner of classes for static volumes only.
	noProvisioner = "kubernetes.io/no-provisioner"
)

// DefaultBindTimeout is how long PreBind waits for the claims to be bound (upstream's
// bindTimeoutSeconds default).
const DefaultBindTimeout = 600 * time.Second

// Config is what the binder needs.
type Config struct {
	Client kubernetes.Interface
	// Informers is the scheduler's factory: the binder reads claims, volumes and classes from it
	// and adds its handlers before it starts.
	Informers informers.SharedInformerFactory
	Logger    *slog.Logger
	// BindTimeout bounds PreBind's wait (default DefaultBindTimeout).
	BindTimeout time.Duration
	// Clock times PreBind's wait (default the real clock).
	Clock clock.Clock
}

// Binder implements plugins.DelayedBinder.
type Binder struct {
	cfg     Config
	log     *slog.Logger
	claims  corelisters.PersistentVolumeClaimLister
	pvs     corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister

	mu sync.Mutex
	// assumed holds static volumes picked by Reserve and not yet seen bound in the informer:
	// volume name -> the claim it is held for.
	assumed map[string]*corev1.PersistentVolumeClaim
	// reserved holds each reserved pod's decisions until PreBind succeeds or Unreserve runs.
	reserved map[types.UID]*reservation
	// changed is closed (and replaced) on every claim or volume event: PreBind's waiters wake.
	changed chan struct{}
}

var _ plugins.DelayedBinder = (*Binder)(nil)

// decision says how one claim is met on the chosen node: pv set = pre-bind that static volume,
// pv nil = provision (set the selected-node annotation).
type decision struct {
	claim *corev1.PersistentVolumeClaim
	pv    *corev1.PersistentVolume
	// wrote says PreBind changed the object, so Unreserve has something to undo.
	wrote bool
	// seen says the informer showed what PreBind wrote: its absence later means someone undid it.
	seen bool
}

type reservation struct {
	pod       string
	node      string
	decisions []*decision
}

// New checks cfg and registers the binder's informer handlers.
func New(cfg Config) (*Binder, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("volumebinder: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("volumebinder: Config.Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BindTimeout <= 0 {
		cfg.BindTimeout = DefaultBindTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	b := &Binder{cfg: cfg, log: cfg.Logger.With("component", "volumebinder"),
		claims:  cfg.Informers.Core().V1().PersistentVolumeClaims().Lister(),
		pvs:     cfg.Informers.Core().V1().PersistentVolumes().Lister(),
		classes: cfg.Informers.Storage().V1().StorageClasses().Lister(),
		assumed: map[string]*corev1.PersistentVolumeClaim{}, reserved: map[types.UID]*reservation{},
		changed: make(chan struct{})}
	_ = cfg.Informers.Storage().V1().StorageClasses().Informer()
	if _, err := cfg.Informers.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { b.kick() },
		UpdateFunc: func(any, any) { b.kick() },
		DeleteFunc: func(any) { b.kick() },
	}); err != nil {
		return nil, fmt.Errorf("volumebinder: watching claims: %w", err)
	}
	if _, err := cfg.Informers.Core().V1().PersistentVolumes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    b.onVolume,
		UpdateFunc: func(_, obj any) { b.onVolume(obj) },
		DeleteFunc: b.onVolumeDelete,
	}); err != nil {
		return nil, fmt.Errorf("volumebinder: watching volumes: %w", err)
	}
	return b, nil
}

func (b *Binder) kick() {
	b.mu.Lock()
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

func (b *Binder) wakeup() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// onVolume drops an assumption once the informer shows the volume claimed: from then on the
// cache itself keeps other claims off it.
func (b *Binder) onVolume(obj any) {
	if pv, ok := obj.(*corev1.PersistentVolume); ok && pv.Spec.ClaimRef != nil {
		b.mu.Lock()
		delete(b.assumed, pv.Name)
		b.mu.Unlock()
	}
	b.kick()
}

func (b *Binder) onVolumeDelete(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if pv, ok := obj.(*corev1.PersistentVolume); ok {
		b.mu.Lock()
		delete(b.assumed, pv.Name)
		b.mu.Unlock()
	}
	b.kick()
}

func claimKey(c *corev1.PersistentVolumeClaim) string { return c.Namespace + "/" + c.Name }
func podKey(p *corev1.Pod) string                     { return p.Namespace + "/" + p.Name }

// volumes lists the volumes as the binder sees them: the informer's, with assumed ones shown
// pre-bound to the claim they are held for.
func (b *Binder) volumes() ([]*corev1.PersistentVolume, error) {
	// Assumptions first: one is dropped only after the informer's store shows the volume
	// claimed, so a list taken afterwards sees the claim either way.
	b.mu.Lock()
	assumed := maps.Clone(b.assumed)
	b.mu.Unlock()
	pvs, err := b.pvs.List(labels.Everything())
	if err != nil || len(assumed) == 0 {
		return pvs, err
	}
	out := make([]*corev1.PersistentVolume, len(pvs))
	for i, pv := range pvs {
		if c, ok := assumed[pv.Name]; ok && pv.Spec.ClaimRef == nil {
			cp := pv.DeepCopy()
			cp.Spec.ClaimRef = claimRef(c)
			pv = cp
		}
		out[i] = pv
	}
	return out, nil
}

func claimRef(c *corev1.PersistentVolumeClaim) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: c.Namespace, Name: c.Name,
		UID: c.UID, ResourceVersion: c.ResourceVersion}
}

// Filter implements plugins.DelayedBinder.
func (b *Binder) Filter(_ *corev1.Pod, claims []*corev1.PersistentVolumeClaim, node *corev1.Node) *fw.Status {
	pvs, err := b.volumes()
	if err != nil {
		return fw.NewStatus(fw.Error, err.Error())
	}
	if _, st := b.decide(claims, pvs, node); st != nil {
		return st
	}
	return nil
}

// decide says how each claim is met on node: the selected node when one is already set, else a
// static volume (each claim its own), else provisioning.
func (b *Binder) decide(claims []*corev1.PersistentVolumeClaim, pvs []*corev1.PersistentVolume, node *corev1.Node) ([]*decision, *fw.Status) {
	chosen := map[string]bool{}
	out := make([]*decision, 0, len(claims))
	for _, c := range claims {
		if sel, ok := c.Annotations[AnnSelectedNode]; ok {
			// Already being provisioned for a node: only that node will do.
			if sel != node.Name {
				return nil, fw.NewStatus(fw.UnschedulableAndUnresolvable, plugins.ReasonBindConflict)
			}
			if st := b.canProvision(c, node); st != nil {
				return nil, st
			}
			out = append(out, &decision{claim: c})
			continue
		}
		if pv := volumematch.Find(c, pvs, volumematch.Options{Node: node, Exclude: chosen}); pv != nil {
			chosen[pv.Name] = true
			out = append(out, &decision{claim: c, pv: pv})
			continue
		}
		if st := b.canProvision(c, node); st != nil {
			return nil, st
		}
		out = append(out, &decision{claim: c})
	}
	return out, nil
}

// canProvision says whether the claim's class can create a volume on node.
func (b *Binder) canProvision(c *corev1.PersistentVolumeClaim, node *corev1.Node) *fw.Status {
	name := volumematch.ClaimClass(c)
	if name == "" {
		return fw.NewStatus(fw.UnschedulableAndUnresolvable, plugins.ReasonBindConflict)
	}
	sc, err := b.classes.Get(name)
	if apierrors.IsNotFound(err) {
		return fw.NewStatus(fw.UnschedulableAndUnresolvable, fmt.Sprintf("storageclass.storage.k8s.io %q not found", name))
	}
	if err != nil {
		return fw.NewStatus(fw.Error, err.Error())
	}
	if !ProvisionsOn(sc, node) {
		return fw.NewStatus(fw.UnschedulableAndUnresolvable, plugins.ReasonBindConflict)
	}
	return nil
}

// ProvisionsOn says whether class sc can provision a volume on node: it has a provisioner, node
// is within its allowedTopologies, and for the built-in local-path provisioner the node's agent
// announced its volume directory. Other provisioners run outside skiff and are trusted to
// place the volume, as upstream does.
func ProvisionsOn(sc *storagev1.StorageClass, node *corev1.Node) bool {
	if sc.Provisioner == "" || sc.Provisioner == noProvisioner {
		return false
	}
	if sc.Provisioner == localpath.Provisioner && node.Annotations[localpath.RootAnnotation] == "" {
		return false
	}
	return topologyMatches(sc.AllowedTopologies, node.Labels)
}

// topologyMatches: no terms match everything; otherwise some term must have every one of its
// label requirements met.
func topologyMatches(terms []corev1.TopologySelectorTerm, nodeLabels map[string]string) bool {
	if len(terms) == 0 {
		return true
	}
	for _, t := range terms {
		ok := true
		for _, e := range t.MatchLabelExpressions {
			v, has := nodeLabels[e.Key]
			if !has || !slices.Contains(e.Values, v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// delayedClaims lists the pod's claims still unbound whose class waits for a consumer, as the
// informer shows them.
func (b *Binder) delayedClaims(pod *corev1.Pod) ([]*corev1.PersistentVolumeClaim, error) {
	var out []*corev1.PersistentVolumeClaim
	for _, name := range plugins.ClaimNames(pod) {
		c, err := b.claims.PersistentVolumeClaims(pod.Namespace).Get(name)
		if err != nil {
			return nil, fmt.Errorf("persistentvolumeclaim %q: %w", name, err)
		}
		if c.Spec.VolumeName != "" {
			continue
		}
		cn := volumematch.ClaimClass(c)
		if cn == "" {
			continue
		}
		sc, err := b.classes.Get(cn)
		if err != nil || sc.VolumeBindingMode == nil || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// Reserve implements plugins.DelayedBinder.
func (b *Binder) Reserve(pod *corev1.Pod, node *corev1.Node) error {
	if node == nil {
		return errors.New("volumebinder: reserve without a node")
	}
	claims, err := b.delayedClaims(pod)
	if err != nil || len(claims) == 0 {
		return err
	}
	pvs, err := b.volumes()
	if err != nil {
		return err
	}
	ds, st := b.decide(claims, pvs, node)
	if st != nil {
		return fmt.Errorf("volumes no longer fit node %q: %s", node.Name, st.Message())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range ds {
		if d.pv != nil {
			if held, ok := b.assumed[d.pv.Name]; ok && held.UID != d.claim.UID {
				// Cannot happen while Reserve runs on the one scheduling goroutine; refuse
				// rather than hand one volume to two claims.
				return fmt.Errorf("persistentvolume %q is already held for claim %s", d.pv.Name, claimKey(held))
			}
		}
	}
	for _, d := range ds {
		if d.pv != nil && d.pv.Spec.ClaimRef == nil {
			b.assumed[d.pv.Name] = d.claim
		}
	}
	b.reserved[pod.UID] = &reservation{pod: podKey(pod), node: node.Name, decisions: ds}
	for _, d := range ds {
		if d.pv != nil {
			b.log.Debug("volume reserved", "pod", podKey(pod), "pvc", claimKey(d.claim), "pv", d.pv.Name, "node", node.Name)
		} else {
			b.log.Debug("claim to be provisioned", "pod", podKey(pod), "pvc", claimKey(d.claim), "node", node.Name)
		}
	}
	return nil
}

func (b *Binder) reservation(uid types.UID) *reservation {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reserved[uid]
}

// PreBind implements plugins.DelayedBinder.
func (b *Binder) PreBind(ctx context.Context, pod *corev1.Pod) error {
	r := b.reservation(pod.UID)
	if r == nil {
		return nil
	}
	for _, d := range r.decisions {
		if err := b.write(ctx, d, r.node); err != nil {
			return fmt.Errorf("binding volumes: %w", err)
		}
	}
	if err := b.waitBound(ctx, r); err != nil {
		return fmt.Errorf("binding volumes: %w", err)
	}
	b.mu.Lock()
	delete(b.reserved, pod.UID)
	b.mu.Unlock()
	b.log.Debug("volumes bound", "pod", r.pod, "node", r.node, "claims", len(r.decisions))
	return nil
}

// write pre-binds the chosen volume to the claim, or names the node on the claim.
func (b *Binder) write(ctx context.Context, d *decision, node string) error {
	if d.pv == nil {
		if d.claim.Annotations[AnnSelectedNode] == node {
			return nil
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{AnnSelectedNode: node}}})
		d.wrote = true
		_, err := b.cfg.Client.CoreV1().PersistentVolumeClaims(d.claim.Namespace).Patch(ctx, d.claim.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			return fmt.Errorf("setting the selected node on persistentvolumeclaim %q: %w", d.claim.Name, err)
		}
		b.log.Info("selected node for claim", "pvc", claimKey(d.claim), "node", node)
		return nil
	}
	if volumematch.IsBoundTo(d.pv, d.claim) {
		return nil
	}
	cur, err := b.pvs.Get(d.pv.Name)
	if err != nil {
		return fmt.Errorf("persistentvolume %q: %w", d.pv.Name, err)
	}
	if cur.Spec.ClaimRef != nil {
		if volumematch.IsBoundTo(cur, d.claim) {
			return nil
		}
		return fmt.Errorf("persistentvolume %q was claimed by %s/%s meanwhile", cur.Name, cur.Spec.ClaimRef.Namespace, cur.Spec.ClaimRef.Name)
	}
	cp := cur.DeepCopy()
	cp.Spec.ClaimRef = claimRef(d.claim)
	if cp.Annotations == nil {
		cp.Annotations = map[string]string{}
	}
	cp.Annotations[AnnBoundByController] = "yes"
	// The resourceVersion read is a precondition: a volume claimed by someone else since fails.
	d.wrote = true
	if _, err := b.cfg.Client.CoreV1().PersistentVolumes().Update(ctx, cp, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("pre-binding persistentvolume %q to claim %q: %w", cur.Name, d.claim.Name, err)
	}
	b.log.Info("pre-bound volume to claim", "pv", cur.Name, "pvc", claimKey(d.claim))
	return nil
}

// waitBound waits, woken by claim and volume events, until every decided claim is bound.
func (b *Binder) waitBound(ctx context.Context, r *reservation) error {
	timer := b.cfg.Clock.NewTimer(b.cfg.BindTimeout)
	defer timer.Stop()
	for {
		wake := b.wakeup()
		done, err := b.allBound(r)
		if err != nil || done {
			return err
		}
		select {
		case <-wake:
		case <-timer.C():
			return fmt.Errorf("timed out waiting for the condition: %s", b.pending(r))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// allBound checks the decisions against the informer; an error means binding cannot complete
// (claim gone, volume taken by another claim, provisioning given up).
func (b *Binder) allBound(r *reservation) (bool, error) {
	all := true
	for _, d := range r.decisions {
		ok, err := b.bound(d, r.node)
		if err != nil {
			return false, err
		}
		all = all && ok
	}
	return all, nil
}

func (b *Binder) bound(d *decision, node string) (bool, error) {
	c, err := b.claims.PersistentVolumeClaims(d.claim.Namespace).Get(d.claim.Name)
	if apierrors.IsNotFound(err) || (err == nil && c.UID != d.claim.UID) {
		return false, fmt.Errorf("persistentvolumeclaim %q was deleted", d.claim.Name)
	}
	if err != nil {
		return false, err
	}
	if c.Spec.VolumeName != "" {
		if _, done := c.Annotations[AnnBindCompleted]; !done && c.Status.Phase != corev1.ClaimBound {
			return false, nil
		}
		pv, err := b.pvs.Get(c.Spec.VolumeName)
		if err != nil {
			return false, nil // the volume informer may trail the claim's
		}
		if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != c.UID {
			return false, nil
		}
		return true, nil
	}
	if d.pv == nil {
		if c.Annotations[AnnSelectedNode] == node {
			d.seen = true
		} else if d.seen {
			// The provisioner takes the annotation away when it gives up on the node.
			return false, fmt.Errorf("provisioning failed for persistentvolumeclaim %q", c.Name)
		}
		return false, nil
	}
	pv, err := b.pvs.Get(d.pv.Name)
	if apierrors.IsNotFound(err) {
		return false, fmt.Errorf("persistentvolume %q was deleted", d.pv.Name)
	}
	if err != nil {
		return false, err
	}
	switch {
	case pv.Spec.ClaimRef == nil:
		if d.seen {
			return false, fmt.Errorf("persistentvolume %q was unbound from persistentvolumeclaim %q", pv.Name, c.Name)
		}
	case volumematch.IsBoundTo(pv, c):
		d.seen = true
	default:
		return false, fmt.Errorf("persistentvolume %q was bound to %s/%s instead", pv.Name, pv.Spec.ClaimRef.Namespace, pv.Spec.ClaimRef.Name)
	}
	return false, nil
}

// pending names the claims not yet bound, for the timeout message.
func (b *Binder) pending(r *reservation) string {
	var names []string
	for _, d := range r.decisions {
		if ok, _ := b.bound(d, r.node); !ok {
			names = append(names, d.claim.Name)
		}
	}
	return fmt.Sprintf("persistentvolumeclaims %q not bound", names)
}

// Unreserve implements plugins.DelayedBinder.
func (b *Binder) Unreserve(ctx context.Context, pod *corev1.Pod) {
	b.mu.Lock()
	r := b.reserved[pod.UID]
	delete(b.reserved, pod.UID)
	if r != nil {
		for _, d := range r.decisions {
			if d.pv != nil {
				if held, ok := b.assumed[d.pv.Name]; ok && held.UID == d.claim.UID {
					delete(b.assumed, d.pv.Name)
				}
			}
		}
	}
	b.mu.Unlock()
	if r == nil {
		return
	}
	for _, d := range r.decisions {
		if !d.wrote {
			continue
		}
		err := b.undo(ctx, d, r.node)
		for try := 0; apierrors.IsConflict(err) && try < 3; try++ {
			err = b.undo(ctx, d, r.node) // changed since read: judge it again
		}
		if err != nil && ctx.Err() == nil {
			b.log.Warn("undoing volume decision failed", "pod", r.pod, "pvc", claimKey(d.claim), "err", err)
		}
	}
	b.kick()
}

// undo takes back what write did, unless the PV controller has already bound the claim: a live
// read decides, as the informer may trail.
func (b *Binder) undo(ctx context.Context, d *decision, node string) error {
	claims := b.cfg.Client.CoreV1().PersistentVolumeClaims(d.claim.Namespace)
	c, err := claims.Get(ctx, d.claim.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		c = nil
	} else if err != nil {
		return err
	} else if c.UID != d.claim.UID {
		c = nil
	}
	if c != nil && c.Spec.VolumeName != "" {
		return nil
	}
	if d.pv == nil {
		if c == nil || c.Annotations[AnnSelectedNode] != node {
			return nil
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"annotations": map[string]any{AnnSelectedNode: nil}, "resourceVersion": c.ResourceVersion}})
		_, err := claims.Patch(ctx, c.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err == nil {
			b.log.Info("cleared selected node from claim", "pvc", claimKey(d.claim), "node", node)
		}
		return ignoreGone(err)
	}
	pv, err := b.cfg.Client.CoreV1().PersistentVolumes().Get(ctx, d.pv.Name, metav1.GetOptions{})
	if err != nil {
		return ignoreGone(err)
	}
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != d.claim.UID || pv.Status.Phase == corev1.VolumeBound {
		return nil
	}
	pv.Spec.ClaimRef = nil
	delete(pv.Annotations, AnnBoundByController)
	_, err = b.cfg.Client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
	if err == nil {
		b.log.Info("cleared pre-binding of volume", "pv", pv.Name, "pvc", claimKey(d.claim))
	}
	return ignoreGone(err)
}

func ignoreGone(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
