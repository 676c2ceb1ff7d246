// Package event is the strategy for Events, served both as core/v1 Event and as events.k8s.io/v1
// Event over one storage (core/v1). It owns the field mapping between the two versions (regarding ↔
// involvedObject, note ↔ message, deprecated* ↔ the legacy fields), the lenient validation core/v1
// clients have always had, the strict validation of events.k8s.io/v1, and both field-selector sets.
//
// It must never record or aggregate events itself: recorders (client-go's broadcaster) decide what
// to write; this package only shapes and checks what is written.
package event
