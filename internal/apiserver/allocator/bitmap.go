package allocator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// Bitmap is a fixed-size set of offsets [0, size): bit i set means offset i is allocated.
type Bitmap struct {
	size  int
	words []uint64
	count int
}

// NewBitmap returns an empty bitmap of size offsets.
func NewBitmap(size int) *Bitmap {
	return &Bitmap{size: size, words: make([]uint64, (size+63)/64)}
}

// Size is the number of offsets the bitmap covers.
func (b *Bitmap) Size() int { return b.size }

// Count is the number of allocated offsets.
func (b *Bitmap) Count() int { return b.count }

// Has reports whether offset i is allocated; offsets outside the bitmap never are.
func (b *Bitmap) Has(i int) bool {
	if i < 0 || i >= b.size {
		return false
	}
	return b.words[i/64]&(1<<(uint(i)%64)) != 0
}

// Set allocates offset i; it reports false when i was already allocated or is out of range.
func (b *Bitmap) Set(i int) bool {
	if i < 0 || i >= b.size || b.Has(i) {
		return false
	}
	b.words[i/64] |= 1 << (uint(i) % 64)
	b.count++
	return true
}

// Clear frees offset i; it reports whether i was allocated.
func (b *Bitmap) Clear(i int) bool {
	if !b.Has(i) {
		return false
	}
	b.words[i/64] &^= 1 << (uint(i) % 64)
	b.count--
	return true
}

// Each calls f for every allocated offset, in increasing order.
func (b *Bitmap) Each(f func(i int)) {
	for w, word := range b.words {
		for word != 0 {
			t := bits.TrailingZeros64(word)
			f(w*64 + t)
			word &= word - 1
		}
	}
}

// Clone returns an independent copy.
func (b *Bitmap) Clone() *Bitmap {
	c := &Bitmap{size: b.size, count: b.count, words: make([]uint64, len(b.words))}
	copy(c.words, b.words)
	return c
}

// Equal reports whether both bitmaps hold the same offsets over the same size.
func (b *Bitmap) Equal(o *Bitmap) bool {
	if b.size != o.size || b.count != o.count {
		return false
	}
	for i := range b.words {
		if b.words[i] != o.words[i] {
			return false
		}
	}
	return true
}

// Pick chooses a free offset at random, not below min. Offsets from split up are preferred, so
// that the band [min, split) stays free for clients that ask for a specific value (upstream's
// static band: well-known addresses like the DNS Service's are requested, not drawn). It reports
// false when no free offset is left.
func (b *Bitmap) Pick(rnd *rand.Rand, min, split int) (int, bool) {
	if split < min {
		split = min
	}
	if split > b.size {
		split = b.size
	}
	if i, ok := b.pickIn(rnd, split, b.size); ok {
		return i, true
	}
	return b.pickIn(rnd, min, split)
}

// pickIn draws a random start in [lo, hi) and takes the first free offset from there, wrapping
// around: uniform enough for spreading addresses, and linear only in words, not offsets.
func (b *Bitmap) pickIn(rnd *rand.Rand, lo, hi int) (int, bool) {
	if lo >= hi {
		return 0, false
	}
	start := lo + rnd.IntN(hi-lo)
	if i, ok := b.firstFree(start, hi); ok {
		return i, true
	}
	return b.firstFree(lo, start)
}

// firstFree is the lowest free offset in [lo, hi).
func (b *Bitmap) firstFree(lo, hi int) (int, bool) {
	for i := lo; i < hi; {
		w := i / 64
		free := ^b.words[w] >> (uint(i) % 64)
		if free == 0 {
			i = (w + 1) * 64
			continue
		}
		j := i + bits.TrailingZeros64(free)
		if j < hi {
			return j, true
		}
		return 0, false
	}
	return 0, false
}

// The stored encodings. Random allocation spreads offsets over the whole range, so a raw bitmap
// of a /12 is 128 KiB however few Services exist; every allocation rewrites the value and every
// write passes through etcd's history and the API server's watch. A list of gaps between
// allocated offsets is a few bytes per Service, so it is used while it is the smaller.
const (
	encodingDense  byte = 1 // the words, little-endian, trailing zero bytes trimmed
	encodingSparse byte = 2 // uvarint count, then uvarint gaps between consecutive offsets
)

// Marshal encodes the allocated offsets (not the size, which the range configuration owns).
func (b *Bitmap) Marshal() []byte {
	sparse := make([]byte, 1, 1+binary.MaxVarintLen64)
	sparse[0] = encodingSparse
	sparse = binary.AppendUvarint(sparse, uint64(b.count))
	prev := -1
	denseLen := 1 + len(b.words)*8
	b.Each(func(i int) {
		if len(sparse) <= denseLen {
			sparse = binary.AppendUvarint(sparse, uint64(i-prev-1))
		}
		prev = i
	})
	if len(sparse) <= denseLen {
		return sparse
	}
	dense := make([]byte, 1, denseLen)
	dense[0] = encodingDense
	for _, w := range b.words {
		dense = binary.LittleEndian.AppendUint64(dense, w)
	}
	end := len(dense)
	for end > 1 && dense[end-1] == 0 {
		end--
	}
	return dense[:end]
}

var errCorrupt = errors.New("corrupt allocation bitmap")

// UnmarshalBitmap decodes what Marshal produced into a bitmap of size offsets. Offsets at or past
// size (the range shrank) are an error: the caller decides what a changed range means.
func UnmarshalBitmap(size int, data []byte) (*Bitmap, error) {
	b := NewBitmap(size)
	if len(data) == 0 {
		return b, nil
	}
	switch data[0] {
	case encodingDense:
		raw := data[1:]
		if len(raw) > len(b.words)*8 {
			return nil, fmt.Errorf("%w: %d bytes for %d offsets", errCorrupt, len(raw), size)
		}
		padded := make([]byte, len(b.words)*8)
		copy(padded, raw)
		for w := range b.words {
			b.words[w] = binary.LittleEndian.Uint64(padded[w*8:])
			b.count += bits.OnesCount64(b.words[w])
		}
		if size%64 != 0 && len(b.words) > 0 && b.words[len(b.words)-1]>>(uint(size)%64) != 0 {
			return nil, fmt.Errorf("%w: offsets past %d", errCorrupt, size)
		}
		return b, nil
	case encodingSparse:
		rest := data[1:]
		n, k := binary.Uvarint(rest)
		if k <= 0 {
			return nil, errCorrupt
		}
		rest = rest[k:]
		prev := -1
		for range n {
			gap, k := binary.Uvarint(rest)
			if k <= 0 || gap >= uint64(size) {
				return nil, errCorrupt
			}
			rest = rest[k:]
			i := prev + 1 + int(gap)
			if !b.Set(i) {
				return nil, fmt.Errorf("%w: offset %d outside %d", errCorrupt, i, size)
			}
			prev = i
		}
		if len(rest) != 0 {
			return nil, fmt.Errorf("%w: trailing bytes", errCorrupt)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: unknown encoding %d", errCorrupt, data[0])
}
