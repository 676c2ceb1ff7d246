package kubectl

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"text/tabwriter"
)

// Columns whose cells change from run to run. Other cells (DURATION, LAST SCHEDULE, ...) are
// deterministic without controllers and are compared as printed.
var volatileColumns = map[string]string{
	"AGE":        "<age>",
	"CREATED AT": "<time>",
	// Cluster IPs come from an allocator; "None" (headless) is kept.
	"CLUSTER-IP": "<cluster-ip>",
	"SELECTOR":   "",
}

var (
	headerCell = regexp.MustCompile(`\S+(?: \S+)*`)
	uidRE      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timeRE     = regexp.MustCompile(`(creationTimestamp"?: )"[^"]+"`)
	rvRE       = regexp.MustCompile(`(resourceVersion"?: )"[0-9]+"`)
)

// normTable rewrites kubectl's table output with the volatile cells replaced and the columns laid
// out again as kubectl's tabwriter does (three spaces between columns, the last one unpadded). Each
// block (tables of several kinds are separated by blank lines) is split at its header's columns.
func normTable(out string) string {
	var b strings.Builder
	for i, block := range strings.Split(strings.TrimSuffix(out, "\n"), "\n\n") {
		if i > 0 {
			b.WriteString("\n")
		}
		lines := strings.Split(block, "\n")
		cols := headerCell.FindAllStringIndex(lines[0], -1)
		names := make([]string, len(cols))
		for k, c := range cols {
			names[k] = lines[0][c[0]:c[1]]
		}
		var buf bytes.Buffer
		tw := tabwriter.NewWriter(&buf, 0, 8, 3, ' ', 0)
		for n, line := range lines {
			cells := make([]string, len(cols))
			for k, c := range cols {
				end := len(line)
				if k+1 < len(cols) {
					end = min(cols[k+1][0], len(line))
				}
				if c[0] < end {
					cells[k] = strings.TrimSpace(line[c[0]:end])
				}
				if n == 0 {
					continue
				}
				if r, ok := volatileColumns[names[k]]; ok && normalised(names[k], cells[k]) {
					if r == "" {
						cells[k] = normValues(cells[k])
					} else {
						cells[k] = r
					}
				}
			}
			tw.Write([]byte(strings.Join(cells, "\t") + "\n"))
		}
		tw.Flush()
		b.Write(buf.Bytes())
	}
	return b.String()
}

// normalised says whether a volatile cell is normalised: "None" marks a headless service and "<none>"
// an absent value, both stable, except that a ClusterIP service shows "<none>" only while no
// allocator runs, which TestServiceClusterIP reports on its own.
func normalised(column, cell string) bool {
	if cell == "None" {
		return false
	}
	return cell != "<none>" || column == "CLUSTER-IP"
}

// normValues replaces generated values (UIDs, timestamps, resource versions) in YAML, JSON or text.
func normValues(s string) string {
	s = uidRE.ReplaceAllString(s, "<uid>")
	s = timeRE.ReplaceAllString(s, `$1"<time>"`)
	return rvRE.ReplaceAllString(s, `$1"<rv>"`)
}

func TestNormTable(t *testing.T) {
	cases := []struct{ in, want string }{
		{
			"NAME               READY   UP-TO-DATE   AVAILABLE   AGE\nnginx-deployment   0/2     0            0           10s\n",
			"NAME               READY   UP-TO-DATE   AVAILABLE   AGE\nnginx-deployment   0/2     0            0           <age>\n",
		},
		{
			// Two kinds; an empty cell in the middle; a headless service keeps None.
			"NAME           STATUS    COMPLETIONS   DURATION   AGE\njob.batch/pi   Running   0/1                      0s\n\n" +
				"NAME        TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE\nservice/a   ClusterIP   10.96.0.12   <none>        80/TCP    5m\nservice/b   ClusterIP   None         <none>        80/TCP    5m\n",
			"NAME           STATUS    COMPLETIONS   DURATION   AGE\njob.batch/pi   Running   0/1                      <age>\n\n" +
				"NAME        TYPE        CLUSTER-IP     EXTERNAL-IP   PORT(S)   AGE\nservice/a   ClusterIP   <cluster-ip>   <none>        80/TCP    <age>\nservice/b   ClusterIP   None           <none>        80/TCP    <age>\n",
		},
		{
			"NAME   STATUS    COMPLETIONS   DURATION   AGE   CONTAINERS   IMAGES        SELECTOR\npi     Running   0/1                      0s    pi           perl:5.34.0   batch.kubernetes.io/controller-uid=f58afaf7-29f9-49f6-8b62-08a351643030\n",
			"NAME   STATUS    COMPLETIONS   DURATION   AGE     CONTAINERS   IMAGES        SELECTOR\npi     Running   0/1                      <age>   pi           perl:5.34.0   batch.kubernetes.io/controller-uid=<uid>\n",
		},
	}
	for _, tc := range cases {
		if got := normTable(tc.in); got != tc.want {
			t.Errorf("normTable(\n%s) =\n%s\nwant\n%s", tc.in, got, tc.want)
		}
	}
}
