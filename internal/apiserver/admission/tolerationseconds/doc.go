// Package tolerationseconds is the DefaultTolerationSeconds admission plugin: every pod tolerates
// its node being not-ready or unreachable for five minutes (NoExecute) unless it says otherwise, so
// a brief node outage does not evict everything at once.
//
// It only adds the two tolerations to pods; it must never change tolerations a pod declares.
package tolerationseconds
