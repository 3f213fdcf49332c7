// Package admin serves the gateway's admin API (JSON, see internal/fleetapi)
// and the fleet page (server-rendered HTML, no script). It does not
// authenticate: the extension mounts it behind the operator check.
package admin

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/registry"
	"github.com/fleetlog/fleetlog/internal/fleetapi"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// maxSpecBytes bounds an assignment request; a fragment is a few KiB.
const maxSpecBytes = 1 << 20

//go:embed templates/*.html
var templateFS embed.FS

// Fleet is what the handlers read and change.
type Fleet interface {
	Devices(registry.Filter) []fleetapi.Device
	Device(id string) (fleetapi.Device, bool)
	Assignments() []fleetapi.Assignment
	Assignment(name string) (fleetapi.Assignment, bool)
	SetAssignment(fleetapi.AssignmentSpec) (*fleetapi.Assignment, error)
	DeleteAssignment(name string) error
}

// Handler serves the admin API and the fleet page.
type Handler struct {
	fleet    Fleet
	onChange func()
	now      func() time.Time
	tmpl     *template.Template
	mux      *http.ServeMux
}

// New returns the handler. onChange runs after an assignment changed, so the
// caller can push configurations at once; now is the clock of the page.
func New(f Fleet, onChange func(), now func() time.Time) *Handler {
	if onChange == nil {
		onChange = func() {}
	}
	if now == nil {
		now = time.Now
	}
	h := &Handler{fleet: f, onChange: onChange, now: now}
	h.tmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"ago":   h.ago,
		"bytes": humanBytes,
		"lag":   lagBytes,
		"rfc":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"json":  func(v any) (string, error) { b, err := json.MarshalIndent(v, "", "  "); return string(b), err },
	}).ParseFS(templateFS, "templates/*.html"))
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+fleetapi.DevicesPath, h.listDevices)
	mux.HandleFunc("GET "+fleetapi.DevicesPath+"/{id}", h.getDevice)
	mux.HandleFunc("GET "+fleetapi.AssignmentsPath, h.listAssignments)
	mux.HandleFunc("GET "+fleetapi.AssignmentsPath+"/{name}", h.getAssignment)
	mux.HandleFunc("PUT "+fleetapi.AssignmentsPath+"/{name}", h.putAssignment)
	mux.HandleFunc("DELETE "+fleetapi.AssignmentsPath+"/{name}", h.deleteAssignment)
	mux.HandleFunc("GET /fleet", h.page)
	mux.HandleFunc("GET /fleet/devices/{id}", h.devicePage)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/fleet", http.StatusSeeOther)
	})
	h.mux = mux
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func filterOf(r *http.Request) registry.Filter {
	q := r.URL.Query()
	return registry.Filter{Fleet: q.Get("fleet"), Site: q.Get("site"), State: q.Get("state")}
}

func (h *Handler) listDevices(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.fleet.Devices(filterOf(r)))
}

func (h *Handler) getDevice(w http.ResponseWriter, r *http.Request) {
	d, ok := h.fleet.Device(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "device "+r.PathValue("id")+" is not in the registry")
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *Handler) listAssignments(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.fleet.Assignments())
}

func (h *Handler) getAssignment(w http.ResponseWriter, r *http.Request) {
	a, ok := h.fleet.Assignment(r.PathValue("name"))
	if !ok {
		writeError(w, http.StatusNotFound, "assignment "+r.PathValue("name")+" does not exist")
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (h *Handler) putAssignment(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSpecBytes+1))
	if err != nil || len(body) > maxSpecBytes {
		writeError(w, http.StatusBadRequest, "assignment request unreadable or above 1 MiB")
		return
	}
	var spec fleetapi.AssignmentSpec
	if err := json.Unmarshal(body, &spec); err != nil {
		writeError(w, http.StatusBadRequest, "decode assignment: "+err.Error())
		return
	}
	if spec.Name == "" {
		spec.Name = r.PathValue("name")
	}
	if spec.Name != r.PathValue("name") {
		writeError(w, http.StatusBadRequest, "assignment name in the body differs from the path")
		return
	}
	a, err := h.fleet.SetAssignment(spec)
	switch {
	case errors.Is(err, registry.ErrInvalid):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	case errors.Is(err, registry.ErrRemoteConfigOff):
		writeError(w, http.StatusConflict, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	h.onChange()
	writeJSON(w, http.StatusOK, a)
}

func (h *Handler) deleteAssignment(w http.ResponseWriter, r *http.Request) {
	err := h.fleet.DeleteAssignment(r.PathValue("name"))
	switch {
	case errors.Is(err, registry.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	h.onChange()
	w.WriteHeader(http.StatusNoContent)
}

// pageData is the fleet page's model.
type pageData struct {
	Filter      registry.Filter
	Devices     []fleetapi.Device
	Counts      []stateCount
	Fleets      []string
	Sites       []string
	States      []string
	Assignments []fleetapi.Assignment
	Now         time.Time
}

type stateCount struct {
	State string
	N     int
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	f := filterOf(r)
	all := h.fleet.Devices(registry.Filter{})
	fleets, sites := map[string]bool{}, map[string]bool{}
	counts := map[string]int{}
	for _, d := range all {
		if d.Fleet != "" {
			fleets[d.Fleet] = true
		}
		if d.Site != "" {
			sites[d.Site] = true
		}
	}
	devices := h.fleet.Devices(f)
	for _, d := range devices {
		counts[d.State]++
	}
	data := pageData{
		Filter:      f,
		Devices:     devices,
		Fleets:      sortedKeys(fleets),
		Sites:       sortedKeys(sites),
		States:      fleetapi.States,
		Assignments: h.fleet.Assignments(),
		Now:         h.now(),
	}
	for _, s := range fleetapi.States {
		data.Counts = append(data.Counts, stateCount{State: s, N: counts[s]})
	}
	h.render(w, "fleet.html", data)
}

func (h *Handler) devicePage(w http.ResponseWriter, r *http.Request) {
	d, ok := h.fleet.Device(r.PathValue("id"))
	if !ok {
		http.Error(w, "device "+r.PathValue("id")+" is not in the registry", http.StatusNotFound)
		return
	}
	h.render(w, "device.html", struct {
		D   fleetapi.Device
		Now time.Time
	}{d, h.now()})
}

func (h *Handler) render(w http.ResponseWriter, name string, data any) {
	var b strings.Builder
	if err := h.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "render page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_, _ = io.WriteString(w, b.String())
}

func (h *Handler) ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := h.now().Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String() + " ago"
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// lagBytes sums the lag of a device's file inputs.
func lagBytes(files []fleetproto.FileStatus) int64 {
	var n int64
	for _, f := range files {
		n += f.LagBytes
	}
	return n
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, fleetapi.Error{Error: msg})
}
