package cronschedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed schedule.
type Schedule interface {
	// Next returns the first activation strictly after t, in t's location, or the zero time if there
	// is none within five years (e.g. "0 0 30 2 *").
	Next(t time.Time) time.Time
}

type bounds struct {
	min, max uint
	names    map[string]uint
}

var (
	minutes = bounds{0, 59, nil}
	hours   = bounds{0, 23, nil}
	dom     = bounds{1, 31, nil}
	months  = bounds{1, 12, map[string]uint{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}}
	dow = bounds{0, 7, map[string]uint{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}}
)

var descriptors = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

// Parse parses a schedule.
func Parse(spec string) (Schedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty spec string")
	}
	if strings.HasPrefix(spec, "@") {
		if rest, ok := strings.CutPrefix(spec, "@every "); ok {
			d, err := time.ParseDuration(strings.TrimSpace(rest))
			if err != nil {
				return nil, fmt.Errorf("failed to parse duration %s: %w", spec, err)
			}
			if d < time.Second {
				return nil, fmt.Errorf("@every duration must be at least 1 second: %s", spec)
			}
			return every(d.Truncate(time.Second)), nil
		}
		std, ok := descriptors[strings.ToLower(spec)]
		if !ok {
			return nil, fmt.Errorf("unrecognized descriptor: %s", spec)
		}
		spec = std
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return nil, fmt.Errorf("expected exactly 5 fields, found %d: %s", len(fields), spec)
	}
	var s cron
	var err error
	parsers := []struct {
		dst *uint64
		b   bounds
	}{{&s.minute, minutes}, {&s.hour, hours}, {&s.dom, dom}, {&s.month, months}, {&s.dow, dow}}
	for i, p := range parsers {
		if *p.dst, err = parseField(fields[i], p.b); err != nil {
			return nil, err
		}
	}
	// 7 is another name for Sunday.
	if s.dow&(1<<7) != 0 {
		s.dow = s.dow&^(1<<7) | 1
	}
	s.domStar = fields[2] == "*" || fields[2] == "?"
	s.dowStar = fields[4] == "*" || fields[4] == "?"
	return &s, nil
}

func parseField(field string, b bounds) (uint64, error) {
	var bits uint64
	for _, part := range strings.Split(field, ",") {
		r, err := parseRange(part, b)
		if err != nil {
			return 0, err
		}
		bits |= r
	}
	return bits, nil
}

func parseRange(expr string, b bounds) (uint64, error) {
	rangePart, stepPart, hasStep := strings.Cut(expr, "/")
	var lo, hi uint
	switch {
	case rangePart == "*" || rangePart == "?":
		lo, hi = b.min, b.max
	default:
		loS, hiS, isRange := strings.Cut(rangePart, "-")
		var err error
		if lo, err = parseValue(loS, b); err != nil {
			return 0, err
		}
		hi = lo
		if isRange {
			if hi, err = parseValue(hiS, b); err != nil {
				return 0, err
			}
		} else if hasStep {
			// "5/15" means from 5 to the end, every 15.
			hi = b.max
		}
	}
	step := uint(1)
	if hasStep {
		n, err := strconv.ParseUint(stepPart, 10, 32)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("invalid step %q in %q", stepPart, expr)
		}
		step = uint(n)
	}
	if lo < b.min || hi > b.max {
		return 0, fmt.Errorf("value out of range (%d - %d): %s", b.min, b.max, expr)
	}
	if lo > hi {
		return 0, fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", lo, hi, expr)
	}
	var bits uint64
	for v := lo; v <= hi; v += step {
		bits |= 1 << v
	}
	return bits, nil
}

func parseValue(s string, b bounds) (uint, error) {
	if v, ok := b.names[strings.ToLower(s)]; ok {
		return v, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %w", s, err)
	}
	return uint(n), nil
}

type cron struct {
	minute, hour, dom, month, dow uint64
	domStar, dowStar              bool
}

func (s *cron) dayMatches(t time.Time) bool {
	d := s.dom&(1<<uint(t.Day())) != 0
	w := s.dow&(1<<uint(t.Weekday())) != 0
	// Cron's rule: when both day fields are restricted, either may match.
	if s.domStar || s.dowStar {
		return d && w
	}
	return d || w
}

func (s *cron) Next(t time.Time) time.Time {
	loc := t.Location()
	t = t.Add(time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond())).Truncate(time.Second)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		switch {
		case s.month&(1<<uint(t.Month())) == 0:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
		case !s.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		case s.hour&(1<<uint(t.Hour())) == 0:
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
		case s.minute&(1<<uint(t.Minute())) == 0:
			t = t.Add(time.Minute)
		default:
			return t
		}
	}
	return time.Time{}
}

type every time.Duration

func (e every) Next(t time.Time) time.Time {
	return t.Add(time.Duration(e) - time.Duration(t.Nanosecond())).Truncate(time.Second)
}
