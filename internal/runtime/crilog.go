package runtime

import (
	"bytes"
	"fmt"
	"time"
)

// LogLine is one line of a container log in the CRI format:
//
//	<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>
//
// P marks a partial line (a long line split by the writer, or output without its newline yet);
// F ends one. The kubelet joins partial lines when it serves logs.
type LogLine struct {
	Time    time.Time
	Stream  string // "stdout" or "stderr"
	Partial bool
	Content []byte // without the newline
}

// FormatLogLine appends the CRI encoding of l, newline included.
func FormatLogLine(dst []byte, l LogLine) []byte {
	dst = l.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, ' ')
	dst = append(dst, l.Stream...)
	if l.Partial {
		dst = append(dst, " P "...)
	} else {
		dst = append(dst, " F "...)
	}
	dst = append(dst, l.Content...)
	return append(dst, '\n')
}

// ParseLogLine decodes one CRI log line (with or without its newline).
func ParseLogLine(b []byte) (LogLine, error) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	var l LogLine
	ts, rest, ok := bytes.Cut(b, []byte(" "))
	if !ok {
		return l, fmt.Errorf("cri log line %q: no timestamp", b)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return l, fmt.Errorf("cri log line %q: %w", b, err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte(" "))
	if !ok || (string(stream) != "stdout" && string(stream) != "stderr") {
		return l, fmt.Errorf("cri log line %q: bad stream", b)
	}
	tag, content, ok := bytes.Cut(rest, []byte(" "))
	if !ok || (string(tag) != "F" && string(tag) != "P") {
		return l, fmt.Errorf("cri log line %q: bad tag", b)
	}
	l.Time, l.Stream, l.Partial, l.Content = t, string(stream), string(tag) == "P", content
	return l, nil
}
