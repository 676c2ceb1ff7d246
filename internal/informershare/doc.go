// Package informershare lets the components of one process (the scheduler and the controller
// manager inside `skiff server`) share an informer instead of each watching, decoding and caching
// the same objects: with 10,000 pods, every copy of the pod cache is tens of megabytes and every
// pod change is decoded once per copy.
//
// Each component gets a view of the one informer, and plugs it into its own per-run informer
// factory. The view's lifetime is that run's: the event handlers a component adds through it are
// removed when the factory that ran the view stops, so a component that loses its Lease and starts
// over leaves no handler behind. It must never stop the shared informer itself (other components
// still read it) nor change its transform or indexers behind the other components' backs beyond
// adding indexers, which client-go allows on a running informer.
package informershare
