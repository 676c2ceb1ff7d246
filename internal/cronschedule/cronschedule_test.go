package cronschedule

import (
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	for _, spec := range []string{"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
		"5-1 * * * *", "*/0 * * * *", "@fortnightly", "@every 1ms", "a * * * *"} {
		if _, err := Parse(spec); err == nil {
			t.Errorf("Parse(%q) succeeded, want error", spec)
		}
	}
}

func TestNext(t *testing.T) {
	from := time.Date(2024, time.January, 31, 10, 17, 30, 0, time.UTC) // a Wednesday
	cases := []struct {
		spec string
		want time.Time
	}{
		{"* * * * *", time.Date(2024, 1, 31, 10, 18, 0, 0, time.UTC)},
		{"*/15 * * * *", time.Date(2024, 1, 31, 10, 30, 0, 0, time.UTC)},
		{"0 * * * *", time.Date(2024, 1, 31, 11, 0, 0, 0, time.UTC)},
		{"@hourly", time.Date(2024, 1, 31, 11, 0, 0, 0, time.UTC)},
		{"@daily", time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"@weekly", time.Date(2024, 2, 4, 0, 0, 0, 0, time.UTC)},
		{"@yearly", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"30 9 * * mon-fri", time.Date(2024, 2, 1, 9, 30, 0, 0, time.UTC)},
		{"0 0 29 feb *", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"0 0 1,15 * 7", time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)}, // day-of-month or Sunday
		{"5/20 10 * * *", time.Date(2024, 1, 31, 10, 25, 0, 0, time.UTC)},
		{"0 0 30 2 *", time.Time{}},
		{"@every 90s", time.Date(2024, 1, 31, 10, 19, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		s, err := Parse(tc.spec)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.spec, err)
		}
		if got := s.Next(from); !got.Equal(tc.want) {
			t.Errorf("%q: Next = %v, want %v", tc.spec, got, tc.want)
		}
	}
}
