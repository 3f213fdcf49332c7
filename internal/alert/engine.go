package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/internal/drain"
)

// Attrs looks up a record's attribute, falling back to its resource's.
type Attrs interface {
	Get(key string) (string, bool)
}

// MapAttrs is Attrs over a plain map (tests, files).
type MapAttrs map[string]string

// Get implements Attrs.
func (m MapAttrs) Get(key string) (string, bool) {
	v, ok := m[key]
	return v, ok
}

// Record is what a rule sees of a log record.
type Record struct {
	// Time is the record's own time (zero: unknown); it is reported as the
	// alert's first and last record time.
	Time     time.Time
	Severity plog.SeverityNumber
	Body     string
	Attrs    Attrs
	// Identity, when Known, is the record's device, fleet and site; else
	// they are looked up in Attrs. A caller with many records of one
	// resource sets it once for all of them.
	Identity      Identity
	IdentityKnown bool
	// Derived marks what the gateway found about a device rather than a
	// record the device sent (a witness finding): it does not count as the
	// device being seen.
	Derived bool
}

// Identity is a device's identity.
type Identity struct {
	Device, Fleet, Site string
}

// Presence tells when each device was last heard from. The engine's default
// learns it from records; a heartbeat source (a fleet registry) can stand in
// for it through WithPresence.
type Presence interface {
	// Seen is called for every record with the engine's clock.
	Seen(id Identity, at time.Time)
	// Range calls fn for every known device until fn returns false.
	Range(fn func(id Identity, last time.Time) bool)
}

// Status is an alert's state.
type Status string

// The alert states.
const (
	StatusFiring   Status = "firing"
	StatusResolved Status = "resolved"
)

// Alert is one change of an alert group's state.
type Alert struct {
	Status      Status
	Rule        string
	Type        Kind
	Severity    Severity
	Description string
	// Fingerprint identifies the group: the rule and its group values.
	Fingerprint string
	// Labels are the group values (group_by keys, or the keys the rule
	// type groups by) plus alertname.
	Labels map[string]string
	Identity
	// Count is the number of matching records (events) the group has seen
	// since its window opened.
	Count int64
	// Window is the rule's window (threshold, match), For (absence) or
	// ResolveAfter (change, new_pattern).
	Window time.Duration
	// StartsAt and EndsAt are the engine's clock; EndsAt is zero while
	// firing.
	StartsAt, EndsAt time.Time
	// FirstRecord and LastRecord are the times of the first and last record
	// the alert is about (absence: the device's last record).
	FirstRecord, LastRecord time.Time
	// Summary says what happened, in a line.
	Summary string
}

// Limits bound the engine's memory.
type Limits struct {
	// MaxGroups bounds the alert groups per rule (default 10000); records
	// that would open another are counted in Stats.GroupsDropped.
	MaxGroups int
	// MaxDevices bounds the devices tracked for absence and change (default
	// 100000).
	MaxDevices int
	// MaxFleets bounds the template miners of a new_pattern rule (default
	// 1000).
	MaxFleets int
}

// Defaults of Limits.
const (
	DefaultMaxGroups  = 10000
	DefaultMaxDevices = 100000
	DefaultMaxFleets  = 1000
)

// RuleCounts are one rule's counters since the last TakeCounts.
type RuleCounts struct {
	Rule                 string
	Evaluations, Matches int64
}

// Stats are the engine's cumulative counters.
type Stats struct {
	Records          int64
	GroupsDropped    int64
	TemplateOverflow int64
	Firing           int
}

// Engine evaluates a rule set. It is safe for concurrent use.
type Engine struct {
	mu       sync.Mutex
	rules    []*ruleState
	presence Presence
	// heartbeats is the fleet registry's presence for absence rules with
	// source heartbeats (SetHeartbeats); nil until there is one.
	heartbeats Presence
	limits     Limits
	stats      Stats
	out        []Alert
	ownsSeen   bool
	lits       *literals
	hit        []bool
	// match is what selects records, replaced whole by Reload: Observe
	// reads it without the lock.
	match   atomic.Pointer[matcher]
	scratch sync.Pool // *observeScratch

	lastSeen   Identity
	lastSeenAt time.Time
}

type compiled struct {
	*Rule
	minSev                  plog.SeverityNumber
	re                      *regexp.Regexp
	fleets, sites, devices  map[string]struct{}
	window, forDur, resolve time.Duration
	learning                time.Duration
	maintStart, maintEnd    int
	groupBy                 []string
	contains                []int // indices of BodyContains in the engine's literals
}

type ruleState struct {
	c *compiled
	// lastDevice and lastValue short-cut change: a device's records repeat
	// its value.
	lastDevice, lastValue string
	groups                map[string]*group
	values                map[string]deviceValue // change: device → last value
	miners                map[string]*fleetMiner
	evals                 int64
	hits                  int64
	// byKey finds a group's fingerprint from its values joined by NUL
	// (threshold, match) or its device (absence) without hashing.
	byKey  map[string]string
	keyBuf []byte
}

// deviceValue is a change rule's last value of a device, with the device's
// own copy of its id.
type deviceValue struct{ device, value string }

type fleetMiner struct {
	m     *drain.Miner
	first time.Time
}

type group struct {
	key                     string // in byKey, if set
	labels                  map[string]string
	id                      Identity
	hits                    []hit // threshold: the last Count matches
	count                   int64
	firing                  bool
	startsAt, last          time.Time
	firstRecord, lastRecord time.Time
	summary                 string
}

type hit struct{ at, rec time.Time }

// Option configures an Engine.
type Option func(*Engine)

// SetHeartbeats gives absence rules with source heartbeats the fleet
// registry's presence; until it is set they never fire.
func (e *Engine) SetHeartbeats(p Presence) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.heartbeats = p
}

// UsesHeartbeats reports whether a rule counts heartbeats.
func (e *Engine) UsesHeartbeats() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rs := range e.rules {
		if rs.c.Source == SourceHeartbeats {
			return true
		}
	}
	return false
}

// WithPresence replaces the record-fed presence used by absence rules.
func WithPresence(p Presence) Option { return func(e *Engine) { e.presence = p; e.ownsSeen = false } }

// WithLimits sets the memory bounds; zero fields keep their defaults.
func WithLimits(l Limits) Option {
	return func(e *Engine) {
		if l.MaxGroups > 0 {
			e.limits.MaxGroups = l.MaxGroups
		}
		if l.MaxDevices > 0 {
			e.limits.MaxDevices = l.MaxDevices
		}
		if l.MaxFleets > 0 {
			e.limits.MaxFleets = l.MaxFleets
		}
	}
}

// NewEngine compiles validated rules.
func NewEngine(rules []*Rule, opts ...Option) (*Engine, error) {
	if err := ValidateAll(rules); err != nil {
		return nil, err
	}
	e := &Engine{limits: Limits{MaxGroups: DefaultMaxGroups, MaxDevices: DefaultMaxDevices, MaxFleets: DefaultMaxFleets}, ownsSeen: true}
	for _, o := range opts {
		o(e)
	}
	if e.presence == nil {
		e.presence = newRecordPresence(e.limits.MaxDevices)
		e.ownsSeen = true
	}
	for _, r := range rules {
		c, err := compile(r)
		if err != nil {
			return nil, err
		}
		e.rules = append(e.rules, &ruleState{c: c, groups: map[string]*group{}, values: map[string]deviceValue{}, miners: map[string]*fleetMiner{}, byKey: map[string]string{}})
	}
	e.indexLiterals()
	return e, nil
}

// indexLiterals rebuilds the body_contains index of the rule set.
func (e *Engine) indexLiterals() {
	e.lits = &literals{}
	for _, rs := range e.rules {
		rs.c.contains = rs.c.contains[:0]
		for _, s := range rs.c.Match.BodyContains {
			rs.c.contains = append(rs.c.contains, e.lits.add(s))
		}
	}
	e.hit = make([]bool, len(e.lits.pats))
	m := &matcher{lits: e.lits, rules: make([]*compiled, len(e.rules))}
	for i, rs := range e.rules {
		m.rules[i] = rs.c
	}
	e.match.Store(m)
}

// matcher is the part of a rule set that selects records: the compiled
// rules, in the order of e.rules, and their literals. It is never changed
// once stored; Reload stores another.
type matcher struct {
	rules []*compiled
	lits  *literals
}

// observeScratch is one Observe's selection of its records. It is pooled
// with its two passes as func values made once (selectFn, applyFn), since
// closures handed to recs would be allocated at every call.
type observeScratch struct {
	hit     []bool
	evals   []int64
	matched []matchAt

	e        *Engine
	m        *matcher
	now      time.Time
	n, i, k  int
	selectFn func(*Record) bool
	applyFn  func(*Record) bool
	// absent is the device whose absence groups apply last looked up in
	// this batch: its later records find nothing more to resolve.
	absent string
}

func (e *Engine) newScratch() *observeScratch {
	sc := &observeScratch{e: e}
	sc.selectFn = sc.selectRecord
	sc.applyFn = sc.applyRecord
	return sc
}

// selectRecord is Observe's first pass over one record: which rules select
// it, without the engine's lock.
func (sc *observeScratch) selectRecord(r *Record) bool {
	id := r.Identity
	if !r.IdentityKnown {
		id = IdentityOf(r.Attrs)
	}
	sc.m.lits.scan(r.Body, sc.hit)
	for j, c := range sc.m.rules {
		if c.Type == KindAbsence {
			continue
		}
		sc.evals[j]++
		if c.matches(r, id, sc.hit) {
			sc.matched = append(sc.matched, matchAt{rec: sc.n, rule: j})
		}
	}
	sc.n++
	return true
}

// applyRecord is Observe's second pass over one record, under the lock.
func (sc *observeScratch) applyRecord(r *Record) bool {
	if sc.i == sc.n {
		return false // recs yielded more records than the first time
	}
	sc.k = sc.e.apply(sc.now, r, sc.i, sc.matched, sc.k, &sc.absent)
	sc.i++
	return true
}

// matchAt is a rule (its index) that selected a record (its index in the
// batch).
type matchAt struct{ rec, rule int }

// Rules names the engine's rules in order.
func (e *Engine) Rules() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.c.Name
	}
	return out
}

func set(xs []string) map[string]struct{} {
	if len(xs) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(xs))
	for _, x := range xs {
		m[x] = struct{}{}
	}
	return m
}

func compile(r *Rule) (*compiled, error) {
	c := &compiled{Rule: r, fleets: set(r.Match.Fleets), sites: set(r.Match.Sites), devices: set(r.Match.Devices)}
	if r.Match.SeverityAtLeast != "" {
		c.minSev, _ = ParseLogSeverity(r.Match.SeverityAtLeast)
	}
	if r.Match.BodyRegex != "" {
		re, err := regexp.Compile(r.Match.BodyRegex)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w: %w", r.Name, ErrRegex, err)
		}
		c.re = re
	}
	c.window = time.Duration(r.Window)
	if c.window == 0 && r.Type == KindMatch {
		c.window = DefaultMatchWindow
	}
	c.forDur = time.Duration(r.For)
	c.resolve = time.Duration(r.ResolveAfter)
	if c.resolve == 0 {
		c.resolve = DefaultResolveAfter
	}
	c.learning = time.Duration(r.Learning)
	if c.learning == 0 && r.Type == KindNewPattern {
		c.learning = DefaultLearning
	}
	c.maintStart, c.maintEnd = -1, -1
	if r.Maintenance != nil {
		c.maintStart, _ = parseClock(r.Maintenance.Start)
		c.maintEnd, _ = parseClock(r.Maintenance.End)
	}
	c.groupBy = r.GroupBy
	if len(c.groupBy) == 0 {
		c.groupBy = []string{keyDevice}
	}
	return c, nil
}

func (c *compiled) selectsIdentity(id Identity) bool {
	if c.fleets != nil {
		if _, ok := c.fleets[id.Fleet]; !ok {
			return false
		}
	}
	if c.sites != nil {
		if _, ok := c.sites[id.Site]; !ok {
			return false
		}
	}
	if c.devices != nil {
		if _, ok := c.devices[id.Device]; !ok {
			return false
		}
	}
	return true
}

// matches reports whether r is selected; hit holds which of the engine's
// literals r's body contains.
func (c *compiled) matches(r *Record, id Identity, hit []bool) bool {
	m := &c.Match
	if !c.selectsIdentity(id) {
		return false
	}
	if c.minSev != 0 && r.Severity < c.minSev {
		return false
	}
	if len(c.contains) > 0 {
		found := false
		for _, i := range c.contains {
			if hit[i] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if c.re != nil && !c.re.MatchString(r.Body) {
		return false
	}
	for k, want := range m.Attributes {
		if v, ok := r.Attrs.Get(k); !ok || v != want {
			return false
		}
	}
	for _, k := range m.AttributesExist {
		if _, ok := r.Attrs.Get(k); !ok {
			return false
		}
	}
	if m.PIIDetected {
		if _, ok := r.Attrs.Get(PIIAttribute + ".count"); !ok {
			return false
		}
	}
	if m.IdentityMismatch {
		if v, ok := r.Attrs.Get(keyMismatch); !ok || v != "true" {
			return false
		}
	}
	return true
}

func (id Identity) clone() Identity {
	return Identity{Device: strings.Clone(id.Device), Fleet: strings.Clone(id.Fleet), Site: strings.Clone(id.Site)}
}

// IdentityOf looks up device.id, fleet.name and fleet.site.
func IdentityOf(a Attrs) Identity {
	var id Identity
	id.Device, _ = a.Get(keyDevice)
	id.Fleet, _ = a.Get(keyFleet)
	id.Site, _ = a.Get(keySite)
	return id
}

// Fingerprint is the stable key of a rule's group.
func Fingerprint(rule string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	h.Write([]byte(rule))
	for _, k := range keys {
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{'='})
		h.Write([]byte(labels[k]))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Observe evaluates records arriving at now and returns the alerts that
// changed state. The records are read only during the call. recs is called
// twice and must yield the same records both times: first without the
// engine's lock, to select the records each rule matches (the body scan and
// the match conditions, most of the work), then under it, to update the
// rules' state, so that concurrent batches select in parallel.
func (e *Engine) Observe(now time.Time, recs func(yield func(*Record) bool)) []Alert {
	m := e.match.Load()
	sc, _ := e.scratch.Get().(*observeScratch)
	if sc == nil {
		sc = e.newScratch()
	}
	defer func() {
		sc.m, sc.absent = nil, "" // nothing of this batch stays in the pool
		e.scratch.Put(sc)
	}()
	sc.hit = slices.Grow(sc.hit[:0], len(m.lits.pats))[:len(m.lits.pats)]
	sc.evals = slices.Grow(sc.evals[:0], len(m.rules))[:len(m.rules)]
	clear(sc.evals)
	sc.matched = sc.matched[:0]
	sc.m, sc.now, sc.n, sc.i, sc.k, sc.absent = m, now, 0, 0, 0, ""
	recs(sc.selectFn)

	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = e.out[:0]
	if e.match.Load() != m {
		// The rules were reloaded meanwhile: evaluate against the new ones.
		recs(func(r *Record) bool {
			e.observe(now, r)
			return true
		})
		return slices.Clone(e.out)
	}
	for j, rs := range e.rules {
		rs.evals += sc.evals[j]
	}
	recs(sc.applyFn)
	return slices.Clone(e.out)
}

// apply updates the rules' state for record rec of a batch, which
// matched[k:] (in record, then rule order) says which rules selected; it
// returns the index of the next record's first match. It does what observe
// does after the selection, in the same order. absent, when not nil, is the
// device whose absence groups were looked up last in this batch: none of them
// can fire again before Tick, so its next records skip the lookup.
func (e *Engine) apply(now time.Time, r *Record, rec int, matched []matchAt, k int, absent *string) int {
	e.stats.Records++
	id := r.Identity
	if !r.IdentityKnown {
		id = IdentityOf(r.Attrs)
	}
	if r.Time.IsZero() {
		r.Time = now
	}
	if e.ownsSeen && !r.Derived && (id != e.lastSeen || !now.Equal(e.lastSeenAt)) {
		e.presence.Seen(id, now)
		e.lastSeen, e.lastSeenAt = id, now
	}
	lookAbsent := !r.Derived && (absent == nil || *absent != id.Device)
	if lookAbsent && absent != nil {
		*absent = id.Device
	}
	for j, rs := range e.rules {
		c := rs.c
		if c.Type == KindAbsence {
			// A record ends a device's silence (heartbeats: in Tick).
			if lookAbsent && len(rs.byKey) > 0 && c.Source != SourceHeartbeats {
				if fp, ok := rs.byKey[id.Device]; ok && rs.groups[fp] != nil && rs.groups[fp].firing {
					e.resolve(rs, fp, rs.groups[fp], now)
				}
			}
			continue
		}
		if k >= len(matched) || matched[k].rec != rec || matched[k].rule != j {
			continue
		}
		k++
		e.matched(rs, r, id, now)
	}
	return k
}

// observe is Observe's selection and apply for one record, under the lock
// (a batch that saw the rules reloaded while it selected).
func (e *Engine) observe(now time.Time, r *Record) {
	id := r.Identity
	if !r.IdentityKnown {
		id = IdentityOf(r.Attrs)
	}
	e.lits.scan(r.Body, e.hit)
	var matched []matchAt
	for j, rs := range e.rules {
		if rs.c.Type == KindAbsence {
			continue
		}
		rs.evals++
		if rs.c.matches(r, id, e.hit) {
			matched = append(matched, matchAt{rule: j})
		}
	}
	e.apply(now, r, 0, matched, 0, nil)
}

// matched updates rule rs's state for a record it selected.
func (e *Engine) matched(rs *ruleState, r *Record, id Identity, now time.Time) {
	switch rs.c.Type {
	case KindMatch, KindThreshold:
		rs.hits++
		e.threshold(rs, r, id, now)
	case KindChange:
		v, ok := r.Attrs.Get(rs.c.Attribute)
		if !ok || id.Device == "" {
			return
		}
		rs.hits++
		e.change(rs, r, id, v, now)
	case KindNewPattern:
		rs.hits++
		e.newPattern(rs, r, id, now)
	}
}

// groupOf finds or opens a group; nil when the rule holds MaxGroups.
func (e *Engine) groupOf(rs *ruleState, labels map[string]string, id Identity) (string, *group) {
	fp := Fingerprint(rs.c.Name, labels)
	g := rs.groups[fp]
	if g == nil {
		if len(rs.groups) >= e.limits.MaxGroups {
			e.stats.GroupsDropped++
			return fp, nil
		}
		g = &group{labels: labels, id: id.clone()}
		rs.groups[fp] = g
	}
	return fp, g
}

func (e *Engine) threshold(rs *ruleState, r *Record, id Identity, now time.Time) {
	c := rs.c
	// The group's key without allocating: one value as it is, several
	// joined in a reused buffer.
	var (
		fp    string
		known bool
		one   string
	)
	if len(c.groupBy) == 1 {
		one, _ = r.Attrs.Get(c.groupBy[0])
		fp, known = rs.byKey[one]
	} else {
		rs.keyBuf = rs.keyBuf[:0]
		for _, k := range c.groupBy {
			v, _ := r.Attrs.Get(k)
			rs.keyBuf = append(append(rs.keyBuf, v...), 0)
		}
		fp, known = rs.byKey[string(rs.keyBuf)]
	}
	var g *group
	if known {
		g = rs.groups[fp]
	} else {
		labels := make(map[string]string, len(c.groupBy))
		for _, k := range c.groupBy {
			v, _ := r.Attrs.Get(k)
			labels[k] = strings.Clone(v)
		}
		fp, g = e.groupOf(rs, labels, id)
		if g == nil {
			return
		}
		if len(c.groupBy) == 1 {
			g.key = strings.Clone(one)
		} else {
			g.key = string(rs.keyBuf)
		}
		rs.byKey[g.key] = fp
	}
	need := max(c.Count, 1)
	if len(g.hits) >= need {
		// Shift in place: re-slicing the tail would leave no capacity,
		// and the next append would allocate again.
		n := copy(g.hits, g.hits[len(g.hits)-need+1:])
		g.hits = append(g.hits[:n], hit{at: now, rec: r.Time})
	} else {
		g.hits = append(g.hits, hit{at: now, rec: r.Time})
	}
	g.last = now
	g.lastRecord = r.Time
	if g.id != id {
		g.id = id.clone()
	}
	if g.firing {
		g.count++
		return
	}
	if len(g.hits) < need || now.Sub(g.hits[0].at) > c.window {
		return
	}
	g.firing = true
	g.startsAt = now
	g.count = int64(len(g.hits))
	g.firstRecord = g.hits[0].rec
	if c.Type == KindThreshold {
		g.summary = fmt.Sprintf("%d matching records within %s", g.count, c.window)
	} else {
		g.summary = truncate(r.Body, 200)
	}
	e.fire(rs, fp, g)
}

func (e *Engine) change(rs *ruleState, r *Record, id Identity, v string, now time.Time) {
	c := rs.c
	if id.Device == rs.lastDevice && v == rs.lastValue {
		return
	}
	last, known := rs.values[id.Device]
	prev := last.value
	if known && prev == v {
		// Unchanged: the copies already stored serve for the short cut.
		rs.lastDevice, rs.lastValue = last.device, last.value
		return
	}
	if !known && len(rs.values) >= e.limits.MaxDevices {
		e.stats.GroupsDropped++
		return
	}
	// Copies: the strings may point into a batch the caller reuses.
	dev, v := strings.Clone(id.Device), strings.Clone(v)
	rs.values[dev] = deviceValue{device: dev, value: v}
	rs.lastDevice, rs.lastValue = dev, v
	if !known || c.inMaintenance(now) {
		return
	}
	e.event(rs, map[string]string{keyDevice: dev}, id, r, now,
		fmt.Sprintf("%s changed from %q to %q", c.Attribute, prev, v))
}

func (c *compiled) inMaintenance(now time.Time) bool {
	if c.maintStart < 0 {
		return false
	}
	t := now.UTC()
	m := t.Hour()*60 + t.Minute()
	if c.maintStart <= c.maintEnd {
		return m >= c.maintStart && m < c.maintEnd
	}
	return m >= c.maintStart || m < c.maintEnd
}

func (e *Engine) newPattern(rs *ruleState, r *Record, id Identity, now time.Time) {
	c := rs.c
	fm := rs.miners[id.Fleet]
	if fm == nil {
		if len(rs.miners) >= e.limits.MaxFleets {
			e.stats.GroupsDropped++
			return
		}
		fm = &fleetMiner{m: drain.New(c.drainConfig()), first: now}
		rs.miners[strings.Clone(id.Fleet)] = fm
	}
	tpl, isNew := fm.m.Add(r.Body)
	if tpl == nil {
		e.stats.TemplateOverflow++
		return
	}
	if !isNew || now.Sub(fm.first) < c.learning {
		return
	}
	e.event(rs, map[string]string{keyFleet: strings.Clone(id.Fleet), "template_id": fmt.Sprint(tpl.ID)}, id, r, now,
		"new log template: "+truncate(tpl.String(), 200))
}

// event fires (or refreshes) a group that resolves after ResolveAfter.
func (e *Engine) event(rs *ruleState, labels map[string]string, id Identity, r *Record, now time.Time, summary string) {
	fp, g := e.groupOf(rs, labels, id)
	if g == nil {
		return
	}
	g.last = now
	g.lastRecord = r.Time
	g.count++
	g.summary = summary
	if g.id != id {
		g.id = id.clone()
	}
	if g.firing {
		return
	}
	g.firing = true
	g.startsAt = now
	g.firstRecord = r.Time
	e.fire(rs, fp, g)
}

// Tick resolves what went quiet and fires absences; call it periodically
// (the connector does every second) with the engine's clock.
func (e *Engine) Tick(now time.Time) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = e.out[:0]
	for _, rs := range e.rules {
		c := rs.c
		switch c.Type {
		case KindAbsence:
			pres, what := e.presence, "record"
			if c.Source == SourceHeartbeats {
				if e.heartbeats == nil {
					continue
				}
				pres, what = e.heartbeats, "report"
			}
			pres.Range(func(id Identity, last time.Time) bool {
				if id.Device == "" || !c.selectsIdentity(id) {
					return true
				}
				if now.Sub(last) < c.forDur {
					// Heartbeats end a silence here; records do in observe.
					if fp, ok := rs.byKey[id.Device]; ok && c.Source == SourceHeartbeats && rs.groups[fp] != nil && rs.groups[fp].firing {
						e.resolve(rs, fp, rs.groups[fp], now)
					}
					return true
				}
				fp, g := e.groupOf(rs, map[string]string{keyDevice: strings.Clone(id.Device)}, id)
				if g == nil || g.firing {
					return true
				}
				g.key = g.labels[keyDevice]
				rs.byKey[g.key] = fp
				g.firing = true
				g.startsAt = now
				g.firstRecord, g.lastRecord = last, last
				g.summary = fmt.Sprintf("no %s from %s for %s", what, id.Device, c.forDur)
				e.fire(rs, fp, g)
				return true
			})
		default:
			quiet := c.window
			if c.Type == KindChange || c.Type == KindNewPattern {
				quiet = c.resolve
			}
			for fp, g := range rs.groups {
				if now.Sub(g.last) <= quiet {
					continue
				}
				if g.firing {
					e.resolve(rs, fp, g, now)
				} else {
					rs.drop(fp, g)
				}
			}
		}
	}
	return slices.Clone(e.out)
}

func (e *Engine) fire(rs *ruleState, fp string, g *group) {
	e.stats.Firing++
	e.out = append(e.out, e.alertOf(rs, fp, g, StatusFiring, time.Time{}))
}

func (e *Engine) resolve(rs *ruleState, fp string, g *group, now time.Time) {
	e.stats.Firing--
	e.out = append(e.out, e.alertOf(rs, fp, g, StatusResolved, now))
	rs.drop(fp, g)
}

func (rs *ruleState) drop(fp string, g *group) {
	delete(rs.groups, fp)
	if k, ok := rs.byKey[g.key]; ok && k == fp {
		delete(rs.byKey, g.key)
	}
}

func (e *Engine) alertOf(rs *ruleState, fp string, g *group, st Status, ends time.Time) Alert {
	c := rs.c
	labels := make(map[string]string, len(g.labels)+1)
	for k, v := range g.labels {
		labels[k] = v
	}
	labels["alertname"] = c.Name
	w := c.window
	switch c.Type {
	case KindAbsence:
		w = c.forDur
	case KindChange, KindNewPattern:
		w = c.resolve
	}
	return Alert{
		Status: st, Rule: c.Name, Type: c.Type, Severity: c.Severity, Description: c.Description,
		Fingerprint: fp, Labels: labels, Identity: g.id, Count: g.count, Window: w,
		StartsAt: g.startsAt, EndsAt: ends, FirstRecord: g.firstRecord, LastRecord: g.lastRecord, Summary: g.summary,
	}
}

// TakeCounts returns each rule's evaluations and matches since the last call.
func (e *Engine) TakeCounts() []RuleCounts {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]RuleCounts, len(e.rules))
	for i, rs := range e.rules {
		out[i] = RuleCounts{Rule: rs.c.Name, Evaluations: rs.evals, Matches: rs.hits}
		rs.evals, rs.hits = 0, 0
	}
	return out
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

func truncate(s string, n int) string {
	if len(s) <= n {
		// A copy: s may point into a batch the caller reuses.
		return strings.Clone(s)
	}
	// Cut on a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return strings.Clone(s[:n]) + "…"
}

// recordPresence is the default Presence: the engine clock of each device's
// last record, bounded in devices.
type recordPresence struct {
	max  int
	last map[string]presence
}

type presence struct {
	id Identity
	at time.Time
}

func newRecordPresence(maxDevices int) *recordPresence {
	return &recordPresence{max: maxDevices, last: map[string]presence{}}
}

func (p *recordPresence) Seen(id Identity, at time.Time) {
	if id.Device == "" {
		return
	}
	old, ok := p.last[id.Device]
	if !ok && len(p.last) >= p.max {
		return
	}
	if !ok || old.id != id {
		// Copies: the strings may point into a batch the caller reuses.
		id = id.clone()
	} else {
		id = old.id
	}
	p.last[id.Device] = presence{id: id, at: at}
}

func (p *recordPresence) Range(fn func(Identity, time.Time) bool) {
	for _, v := range p.last {
		if !fn(v.id, v.at) {
			return
		}
	}
}

// Reload replaces the rule set. A rule whose definition is unchanged keeps
// its state (windows, firing groups, learned templates); the firing groups
// of a rule that was removed or changed resolve, and those alerts are
// returned.
func (e *Engine) Reload(rules []*Rule, now time.Time) ([]Alert, error) {
	if err := ValidateAll(rules); err != nil {
		return nil, err
	}
	next := make([]*ruleState, 0, len(rules))
	for _, r := range rules {
		c, err := compile(r)
		if err != nil {
			return nil, err
		}
		next = append(next, &ruleState{c: c, groups: map[string]*group{}, values: map[string]deviceValue{}, miners: map[string]*fleetMiner{}, byKey: map[string]string{}})
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = e.out[:0]
	kept := map[*ruleState]bool{}
	for i, n := range next {
		for _, old := range e.rules {
			if old.c.Name == n.c.Name && reflect.DeepEqual(*old.c.Rule, *n.c.Rule) {
				// The state stays; the compiled rule is the new, equal
				// one, since indexLiterals rewrites its literal indices
				// and a concurrent Observe may still read the old one.
				old.c = n.c
				next[i] = old
				kept[old] = true
				break
			}
		}
	}
	for _, old := range e.rules {
		if kept[old] {
			continue
		}
		for fp, g := range old.groups {
			if g.firing {
				e.resolve(old, fp, g, now)
			}
		}
	}
	e.rules = next
	e.indexLiterals()
	return slices.Clone(e.out), nil
}
