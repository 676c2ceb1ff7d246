// Package limitrange is the strategy for core/v1 LimitRanges: known limit types, resource names that
// fit the type, and min <= defaultRequest <= default <= max with a sane limit/request ratio.
//
// It must never apply defaults to pods or reject pods: the LimitRanger admission step owns that.
package limitrange
