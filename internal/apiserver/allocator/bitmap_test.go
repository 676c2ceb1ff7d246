package allocator

import (
	"errors"
	"math/rand/v2"
	"testing"
)

func TestBitmapSetClear(t *testing.T) {
	b := NewBitmap(130)
	steps := []struct {
		op    string
		i     int
		want  bool
		count int
	}{
		{"set", 0, true, 1},
		{"set", 0, false, 1},
		{"set", 129, true, 2},
		{"set", 130, false, 2},
		{"set", -1, false, 2},
		{"set", 64, true, 3},
		{"clear", 64, true, 2},
		{"clear", 64, false, 2},
		{"clear", 500, false, 2},
	}
	for _, s := range steps {
		var got bool
		if s.op == "set" {
			got = b.Set(s.i)
		} else {
			got = b.Clear(s.i)
		}
		if got != s.want || b.Count() != s.count {
			t.Fatalf("%s(%d) = %v, count %d; want %v, count %d", s.op, s.i, got, b.Count(), s.want, s.count)
		}
	}
	var seen []int
	b.Each(func(i int) { seen = append(seen, i) })
	if len(seen) != 2 || seen[0] != 0 || seen[1] != 129 {
		t.Fatalf("Each = %v, want [0 129]", seen)
	}
}

func TestBitmapPick(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name       string
		size       int
		preset     []int
		min, split int
		// every pick must fall in [lo, hi)
		lo, hi int
		ok     bool
	}{
		{"prefers the upper band", 1000, nil, 1, 100, 100, 1000, true},
		{"upper band full falls back below", 200, rangeOf(100, 200), 1, 100, 1, 100, true},
		{"never below min", 3, []int{1, 2}, 1, 1, 0, 0, false},
		{"split past size clamps", 6, nil, 1, 16, 1, 6, true},
		{"full", 64, rangeOf(0, 64), 0, 0, 0, 0, false},
		{"one free in a full word", 128, without(rangeOf(0, 128), 77), 0, 10, 77, 78, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 50 {
				b := NewBitmap(tt.size)
				for _, i := range tt.preset {
					b.Set(i)
				}
				i, ok := b.Pick(rnd, tt.min, tt.split)
				if ok != tt.ok {
					t.Fatalf("Pick ok = %v, want %v", ok, tt.ok)
				}
				if ok && (i < tt.lo || i >= tt.hi || b.Has(i)) {
					t.Fatalf("Pick = %d, want a free offset in [%d, %d)", i, tt.lo, tt.hi)
				}
			}
		})
	}
}

func TestBitmapPickFillsEverything(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	b := NewBitmap(300)
	for n := 0; n < 299; n++ {
		i, ok := b.Pick(rnd, 1, 20)
		if !ok || !b.Set(i) {
			t.Fatalf("pick %d: %d, %v", n, i, ok)
		}
	}
	if _, ok := b.Pick(rnd, 1, 20); ok {
		t.Fatal("picked from a full bitmap")
	}
	if b.Has(0) {
		t.Fatal("offset below min was handed out")
	}
}

func TestBitmapMarshalRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name   string
		size   int
		fill   int
		format byte
	}{
		{"empty", 1 << 20, 0, encodingSparse},
		{"few in a big range", 1 << 20, 100, encodingSparse},
		{"dense", 1000, 700, encodingDense},
		{"size not a multiple of 64", 70, 69, encodingDense},
		{"small sparse", 70, 1, encodingSparse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBitmap(tt.size)
			for b.Count() < tt.fill {
				b.Set(rnd.IntN(tt.size))
			}
			data := b.Marshal()
			if data[0] != tt.format {
				t.Errorf("encoding %d, want %d (%d bytes)", data[0], tt.format, len(data))
			}
			got, err := UnmarshalBitmap(tt.size, data)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(b) {
				t.Fatal("round trip changed the bitmap")
			}
		})
	}
	few := NewBitmap(1 << 20)
	for few.Count() < 100 {
		few.Set(rnd.IntN(1 << 20))
	}
	if n := len(few.Marshal()); n > 400 {
		t.Errorf("100 offsets in a /12 take %d bytes", n)
	}
}

func TestUnmarshalBitmapRejectsCorruption(t *testing.T) {
	big := NewBitmap(200)
	big.Set(150)
	dense := NewBitmap(64)
	for i := range 64 {
		dense.Set(i)
	}
	tests := []struct {
		name string
		size int
		data []byte
	}{
		{"unknown encoding", 10, []byte{9}},
		{"sparse offset past size", 100, big.Marshal()},
		{"dense longer than size", 8, dense.Marshal()},
		{"sparse truncated", 100, []byte{encodingSparse, 3, 1}},
		{"sparse trailing bytes", 100, []byte{encodingSparse, 1, 1, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := UnmarshalBitmap(tt.size, tt.data); !errors.Is(err, errCorrupt) {
				t.Fatalf("err = %v, want corrupt", err)
			}
		})
	}
}

func rangeOf(lo, hi int) []int {
	var out []int
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

func without(s []int, x int) []int {
	var out []int
	for _, v := range s {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}
