// Package limitranger is the LimitRanger admission plugin: containers of new pods get the
// default requests and limits of their namespace's LimitRanges, and pods and
// PersistentVolumeClaims outside a LimitRange's min, max or limit/request ratio are refused.
//
// It reads LimitRanges and never writes them; it changes only the pod it admits.
package limitranger
