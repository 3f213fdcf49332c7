package notify

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fleetlog/fleetlog/internal/alert"
	"github.com/fleetlog/fleetlog/internal/archive"
)

// Webhook is the generic JSON webhook body: the notification itself, with
// a version for receivers.
func Webhook(n *Notification) ([]byte, error) {
	return json.Marshal(struct {
		Version string `json:"version"`
		*Notification
	}{"1", n})
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

type slackAttachment struct {
	Fallback string       `json:"fallback"`
	Color    string       `json:"color"`
	Title    string       `json:"title"`
	Text     string       `json:"text"`
	Fields   []slackField `json:"fields"`
	Footer   string       `json:"footer"`
	Ts       int64        `json:"ts"`
}

type slackMessage struct {
	Text        string            `json:"text"`
	Attachments []slackAttachment `json:"attachments"`
}

// Slack is a Slack incoming-webhook message: a text headline and one
// attachment with the alert's fields and the evidence command.
func Slack(n *Notification) ([]byte, error) {
	color := "warning"
	switch {
	case n.Status == alert.StatusResolved:
		color = "good"
	case n.Severity == alert.SeverityCritical:
		color = "danger"
	case n.Severity == alert.SeverityInfo:
		color = "#439FE0"
	}
	fields := []slackField{
		{"Rule", n.Rule, true},
		{"Severity", string(n.Severity), true},
	}
	for _, f := range []slackField{{"Device", n.Device, true}, {"Fleet", n.Fleet, true}, {"Site", n.Site, true}} {
		if f.Value != "" {
			fields = append(fields, f)
		}
	}
	fields = append(fields,
		slackField{"Count", strconv.FormatInt(n.Count, 10), true},
		slackField{"Window", n.Window, true},
		slackField{"First record", fmtTime(n.FirstRecord), true},
		slackField{"Last record", fmtTime(n.LastRecord), true},
		slackField{"Evidence", "`" + n.Evidence + "`", false},
	)
	return json.Marshal(slackMessage{
		Text: slackEscape(n.Title()),
		Attachments: []slackAttachment{{
			Fallback: slackEscape(n.Title()), Color: color, Title: slackEscape(n.Rule + ": " + n.Description),
			Text: slackEscape(n.Summary), Fields: fields, Footer: "fleetlog " + n.Fingerprint, Ts: n.CreatedAt.Unix(),
		}},
	})
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Alertmanager is a POST /api/v2/alerts body. Label names are Prometheus
// names (device.id → device_id); a firing alert's endsAt is ValidUntil so
// that Alertmanager keeps it firing between repeats, a resolved one's its
// end. generator is the base of generatorURL (empty: none).
func Alertmanager(ns []*Notification, generator string) ([]byte, error) {
	out := make([]amAlert, 0, len(ns))
	for _, n := range ns {
		labels := map[string]string{"severity": string(n.Severity), "fingerprint": n.Fingerprint}
		for k, v := range n.Labels {
			if v != "" {
				labels[promName(k)] = v
			}
		}
		if n.Fleet != "" {
			labels["fleet"] = n.Fleet
		}
		if n.Site != "" {
			labels["site"] = n.Site
		}
		if n.Device != "" {
			labels["device"] = n.Device
		}
		a := amAlert{
			Labels: labels,
			Annotations: map[string]string{
				"summary": n.Title(), "description": n.Description, "evidence": n.Evidence,
				"count": strconv.FormatInt(n.Count, 10), "window": n.Window,
				"first_record": fmtTime(n.FirstRecord), "last_record": fmtTime(n.LastRecord),
			},
			StartsAt: n.StartsAt.UTC(),
		}
		switch {
		case n.EndsAt != nil:
			a.EndsAt = n.EndsAt.UTC()
		case n.ValidUntil != nil:
			a.EndsAt = n.ValidUntil.UTC()
		}
		if generator != "" {
			a.GeneratorURL = generator + "?" + url.Values{"rule": {n.Rule}, "fingerprint": {n.Fingerprint}}.Encode()
		}
		out = append(out, a)
	}
	return json.Marshal(out)
}

// promName maps an attribute name to a Prometheus label name.
func promName(k string) string {
	b := []byte(k)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || (i > 0 && c >= '0' && c <= '9')) {
			b[i] = '_'
		}
	}
	return string(b)
}

// SyslogParams set the RFC 5424 header.
type SyslogParams struct {
	Facility int    // 0-23
	Hostname string // "-" when empty
	AppName  string
	Version  string // CEF device version
}

// Syslog is one RFC 5424 message, octet-counting framed (RFC 5425), whose
// MSG is a CEF:0 event for SIEMs.
func Syslog(n *Notification, p SyslogParams) []byte {
	sev := 4 // warning
	switch {
	case n.Checkpoint != nil:
		sev = 6 // informational
	case n.Status == alert.StatusResolved:
		sev = 5 // notice
	case n.Severity == alert.SeverityCritical:
		sev = 2
	case n.Severity == alert.SeverityInfo:
		sev = 6
	}
	host := p.Hostname
	if host == "" {
		host = "-"
	}
	app := p.AppName
	if app == "" {
		app = "fleetlog"
	}
	msg := fmt.Sprintf("<%d>1 %s %s %s - %s - %s", p.Facility*8+sev, n.CreatedAt.UTC().Format(time.RFC3339Nano),
		sysField(host, 255), sysField(app, 48), sysField(n.Rule, 32), CEF(n, p.Version))
	return []byte(strconv.Itoa(len(msg)) + " " + msg)
}

// sysField keeps an RFC 5424 header field printable, without spaces, and
// within its length.
func sysField(s string, n int) string {
	b := []byte(s)
	for i, c := range b {
		if c <= 32 || c >= 127 {
			b[i] = '_'
		}
	}
	if len(b) > n {
		b = b[:n]
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// CEF renders the notification as an ArcSight Common Event Format event.
func CEF(n *Notification, version string) string {
	if version == "" {
		version = "0"
	}
	if n.Checkpoint != nil {
		return checkpointCEF(n, version)
	}
	sev := 5
	switch {
	case n.Status == alert.StatusResolved:
		sev = 1
	case n.Severity == alert.SeverityCritical:
		sev = 9
	case n.Severity == alert.SeverityInfo:
		sev = 3
	}
	name := n.Description
	if name == "" {
		name = n.Rule
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CEF:0|fleetlog|fleetlog-gateway|%s|%s|%s|%d|", cefHeader(version), cefHeader(n.Rule), cefHeader(name), sev)
	ext := [][2]string{
		{"act", string(n.Status)},
		{"rt", msTime(n.CreatedAt)},
		{"dvchost", n.Device},
		{"cs1Label", "fleet"}, {"cs1", n.Fleet},
		{"cs2Label", "site"}, {"cs2", n.Site},
		{"cs3Label", "fingerprint"}, {"cs3", n.Fingerprint},
		{"cs4Label", "evidence"}, {"cs4", n.Evidence},
		{"cnt", strconv.FormatInt(n.Count, 10)},
		{"start", msTime(n.FirstRecord)},
		{"end", msTime(n.LastRecord)},
		{"msg", n.Summary},
	}
	writeExtension(&b, ext)
	return b.String()
}

// checkpointCEF renders an archive checkpoint as a CEF event whose last
// field is the signed note, base64 (archive.CEFNoteField), which
// `fleetlogctl archive verify --checkpoint` reads from a file of such
// events.
func checkpointCEF(n *Notification, version string) string {
	cp := n.Checkpoint
	var b strings.Builder
	fmt.Fprintf(&b, "CEF:0|fleetlog|fleetlog-gateway|%s|%s|Archive checkpoint|1|", cefHeader(version), archive.CEFEventClass)
	writeExtension(&b, [][2]string{
		{"rt", msTime(n.CreatedAt)},
		{"cs1Label", "origin"}, {"cs1", cp.Origin},
		{"cn1Label", "treeSize"}, {"cn1", strconv.FormatUint(cp.Size, 10)},
		{"cs2Label", "rootHash"}, {"cs2", cp.Root},
		{"cn2Label", "keyEpoch"}, {"cn2", strconv.FormatUint(cp.Epoch, 10)},
		{"msg", n.Summary},
		{archive.CEFNoteField + "Label", archive.CEFNoteLabel}, {archive.CEFNoteField, base64.StdEncoding.EncodeToString(cp.Note)},
	})
	return b.String()
}

// writeExtension writes CEF extension fields, leaving out empty ones.
func writeExtension(b *strings.Builder, ext [][2]string) {
	first := true
	for _, kv := range ext {
		if kv[1] == "" {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(kv[0])
		b.WriteByte('=')
		b.WriteString(cefValue(kv[1]))
	}
}

func msTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func cefHeader(s string) string {
	return strings.NewReplacer(`\`, `\\`, "|", `\|`, "\n", " ", "\r", " ").Replace(s)
}

func cefValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, "=", `\=`, "\n", `\n`, "\r", `\r`).Replace(s)
}
