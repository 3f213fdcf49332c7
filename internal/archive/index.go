package archive

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// SegmentIndex is what a sealed segment's manifest says about its records,
// so that a query can skip a segment that cannot hold a match without reading
// it. It is part of the signed manifest body: editing it breaks the
// signature. The time range is the manifest's first_time and last_time.
//
// Every answer is conservative: MayMatch is false only when no record of the
// segment can match; a false positive of the filter costs a read, never a
// record.
type SegmentIndex struct {
	// DeviceCount is the number of distinct device.id values; Devices lists
	// them (sorted) when there are at most maxListedValues.
	DeviceCount int      `json:"device_count"`
	Devices     []string `json:"devices,omitempty"`
	// FleetCount and Fleets are the same for fleet.name.
	FleetCount int      `json:"fleet_count"`
	Fleets     []string `json:"fleets,omitempty"`
	// Severity counts records by severity number ("0" for unspecified).
	Severity map[string]uint64 `json:"severity"`
	// Untimed counts records with neither a timestamp nor an observed
	// time, which first_time and last_time do not bound.
	Untimed uint64 `json:"untimed,omitempty"`
	// Unindexed lists the attribute keys whose values the filter does not
	// hold (values that are maps, slices, bytes or long strings, and the
	// spool sequence number, unique per record): a query on one reads the
	// segment.
	Unindexed []string `json:"unindexed,omitempty"`
	// Filter is a Bloom filter over "key\x00value" of every resource and
	// record attribute (device.id and fleet.name included), values as
	// pcommon.Value.AsString renders them.
	Filter BloomFilter `json:"filter"`
}

// BloomFilter is a blocked Bloom filter (Putze, Sanders and Singler) of
// 8·len(Bits) bits, a power of two, in blocks of 64 bytes (a cache line):
// a key's XXH64 digest h picks block h mod (number of blocks), and its
// Hashes probes are the bits of that block given by successive 9-bit
// fields of h from bit 28 up. One cache line per key keeps the writer's
// cost low; the price is a slightly higher false-positive rate than an
// unblocked filter of the same size.
//
// Written here rather than taken from a library because the filter must be
// foldable (halved by OR-ing its halves, which needs the block to be the
// digest mod a power of two) and its bytes are part of a signed format that
// must never change with a dependency's version.
type BloomFilter struct {
	Hashes int    `json:"hashes"`
	Bits   []byte `json:"bits"` // base64 in JSON
}

const (
	// bloomHashes is the number of probes: at 10 bits per key a
	// false-positive rate near 1.5% (blocked; 7, the optimum there, gives
	// about 1%), and when the size cap leaves few bits per key it degrades
	// far less than 7. Fewer probes also cost ingest less.
	bloomHashes = 4
	// bloomBlockBytes is a block; bloomProbeBits address a bit in it, the
	// probes using bits bloomProbeShift and up of the digest (the block,
	// the low bits, needs fewer than 28 for any filter a segment gets).
	bloomBlockBytes = 64
	bloomProbeBits  = 9
	bloomProbeShift = 64 - bloomHashes*bloomProbeBits
	// bloomBitsPerKey is what a sealed filter is folded down to at most.
	bloomBitsPerKey = 10
	// minBloomBits and the share of the segment size bound a filter from
	// below and above: the index never grows past maxFilterShare of the
	// segment, whatever the number of distinct values; past it the
	// false-positive rate rises instead.
	minBloomBits   = 1 << 12
	maxFilterShare = 0.02
	// maxListedValues is how many devices or fleets are listed by name.
	maxListedValues = 64
	// maxIndexedValue bounds the length of an attribute value the filter holds.
	maxIndexedValue = 256
)

// keyHasher digests attribute keys and values; its buffer is reused.
type keyHasher struct{ buf []byte }

// key is the digest of one attribute key and value: XXH64 of key, a zero
// byte and value.
func (h *keyHasher) key(key, value string) uint64 {
	h.buf = append(append(append(h.buf[:0], key...), 0), value...)
	return xxhash.Sum64(h.buf)
}

// intKey is key with the decimal text of an integer value.
func (h *keyHasher) intKey(key string, value int64) uint64 {
	h.buf = strconv.AppendInt(append(append(h.buf[:0], key...), 0), value, 10)
	return xxhash.Sum64(h.buf)
}

func (b *BloomFilter) add(h uint64) {
	block := (h & (uint64(len(b.Bits))/bloomBlockBytes - 1)) * bloomBlockBytes
	x := h >> bloomProbeShift
	for range b.Hashes {
		p := x & (bloomBlockBytes*8 - 1)
		x >>= bloomProbeBits
		b.Bits[block+p>>3] |= 1 << (p & 7)
	}
}

// MayContain reports whether the key may have been added; false is certain.
// A filter with no bits, a malformed size or another number of probes may
// contain anything.
func (b *BloomFilter) MayContain(key, value string) bool {
	var h keyHasher
	return b.mayContain(h.key(key, value))
}

func (b *BloomFilter) mayContain(h uint64) bool {
	n := uint64(len(b.Bits))
	if n < bloomBlockBytes || n&(n-1) != 0 || b.Hashes != bloomHashes {
		return true
	}
	block := (h & (n/bloomBlockBytes - 1)) * bloomBlockBytes
	x := h >> bloomProbeShift
	for range b.Hashes {
		p := x & (bloomBlockBytes*8 - 1)
		x >>= bloomProbeBits
		if b.Bits[block+p>>3]&(1<<(p&7)) == 0 {
			return false
		}
	}
	return true
}

// estimatedKeys estimates how many distinct keys were added from the share
// of bits set (Swamidass and Baldi).
func (b *BloomFilter) estimatedKeys() float64 {
	m := float64(len(b.Bits) * 8)
	set := 0
	for i := 0; i+8 <= len(b.Bits); i += 8 {
		set += bits.OnesCount64(binary.LittleEndian.Uint64(b.Bits[i:]))
	}
	for _, c := range b.Bits[len(b.Bits)&^7:] {
		set += bits.OnesCount8(c)
	}
	if float64(set) >= m {
		return math.Inf(1)
	}
	return -m / float64(b.Hashes) * math.Log1p(-float64(set)/m)
}

// fold halves the filter: bit p of the half is the OR of bits p and p+m/2,
// which is the filter that adding the same keys to m/2 bits gives.
func (b *BloomFilter) fold() {
	half := len(b.Bits) / 2
	for i := range half {
		b.Bits[i] |= b.Bits[half+i]
	}
	b.Bits = b.Bits[:half:half]
}

// FalsePositiveRate is the filter's expected false-positive rate for n
// keys: keys fall into blocks as a Poisson process, and within its block a
// key is a false positive when all its probes hit set bits.
func (b *BloomFilter) FalsePositiveRate(n float64) float64 {
	blocks := float64(len(b.Bits) / bloomBlockBytes)
	if blocks == 0 {
		return 1
	}
	lambda := n / blocks
	k, bitsPerBlock := float64(b.Hashes), float64(bloomBlockBytes*8)
	rate, p := 0.0, math.Exp(-lambda) // p: Poisson(j; lambda)
	for j := 0; j < int(lambda+10*math.Sqrt(lambda)+20); j++ {
		rate += p * math.Pow(1-math.Pow(1-1/bitsPerBlock, k*float64(j)), k)
		p *= lambda / float64(j+1)
	}
	return rate
}

// bloomBitsFor is the filter size an open segment starts with: the largest
// power of two within maxFilterShare of a full segment.
func bloomBitsFor(maxSegmentSize int64) int {
	limit := float64(maxSegmentSize) * 8 * maxFilterShare
	n := minBloomBits
	for float64(n*2) <= limit {
		n *= 2
	}
	return n
}

// batchIndex is what one encoded batch adds to its segment's index; it is
// computed outside the writer's lock.
type batchIndex struct {
	keys      []uint64 // mostly distinct: repeats only cost a probe
	devices   []string
	fleets    []string
	severity  [plog.SeverityNumberFatal4 + 1]uint64
	untimed   uint64
	unindexed []string
}

// indexBatch summarises ld for the index.
func indexBatch(ld plog.Logs) *batchIndex {
	x := newIndexer(ld.LogRecordCount())
	for _, rl := range ld.ResourceLogs().All() {
		x.resource(rl.Resource().Attributes())
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				x.record(lr)
			}
		}
	}
	return x.done()
}

// indexer builds a batchIndex from resources and records in turn; the
// writer's encode feeds it from the loop that also finds the time range.
// The writer keeps one per encoder and reuses it (start).
type indexer struct {
	b    *batchIndex
	hash keyHasher
	// recent drops most repeats within a batch (a file name on every
	// record) before they reach the filter; its length is a power of two,
	// at most maxRecent, sized to the batch.
	recent []uint64
	// last holds each attribute's previous value and digest, so a value
	// repeated from record to record is not hashed again.
	last []lastValue
}

type lastValue struct {
	key, str string
	num      int64
	isNum    bool
	digest   uint64 // 0: none yet
}

// newIndexer returns an indexer for about records records.
func newIndexer(records int) *indexer {
	x := &indexer{}
	x.start(&batchIndex{}, records)
	return x
}

// start makes x summarise about records records into b, emptied first,
// reusing what x and b hold from before.
func (x *indexer) start(b *batchIndex, records int) {
	b.reset()
	b.keys = slices.Grow(b.keys, records+16)
	x.b = b
	n := 64
	for n < maxRecent && n < 8*records {
		n *= 2
	}
	if cap(x.recent) >= n {
		x.recent = x.recent[:n]
		clear(x.recent)
	} else {
		x.recent = make([]uint64, n)
	}
	clear(x.last) // drops the references to the previous batch's strings
	x.last = x.last[:0]
}

// reset empties b, keeping its buffers.
func (b *batchIndex) reset() {
	clear(b.devices)
	clear(b.fleets)
	clear(b.unindexed)
	*b = batchIndex{keys: b.keys[:0], devices: b.devices[:0], fleets: b.fleets[:0], unindexed: b.unindexed[:0]}
}

// maxRecent bounds the indexer's table of recent keys (8 KiB); a small
// batch gets a small one, since zeroing it was most of a small batch's
// index cost.
const maxRecent = 1024

func (x *indexer) resource(res pcommon.Map) {
	if v, ok := res.Get(DeviceAttribute); ok {
		x.b.devices = appendNew(x.b.devices, v.AsString())
	}
	if v, ok := res.Get(FleetAttribute); ok {
		x.b.fleets = appendNew(x.b.fleets, v.AsString())
	}
	x.attributes(res)
}

func (x *indexer) record(lr plog.LogRecord) {
	// Out-of-range numbers are kept where Match would rank them.
	x.b.severity[max(0, min(lr.SeverityNumber(), plog.SeverityNumberFatal4))]++
	if recordTime(lr) == 0 {
		x.b.untimed++
	}
	x.attributes(lr.Attributes())
}

func (x *indexer) done() *batchIndex { return x.b }

func (x *indexer) add(k uint64) {
	if slot := &x.recent[k&uint64(len(x.recent)-1)]; *slot != k || k == 0 {
		*slot = k
		x.b.keys = append(x.b.keys, k)
	}
}

func (x *indexer) cached(k string) *lastValue {
	for i := range x.last {
		if x.last[i].key == k {
			return &x.last[i]
		}
	}
	if len(x.last) >= 16 {
		return nil
	}
	x.last = append(x.last, lastValue{key: k})
	return &x.last[len(x.last)-1]
}

func (x *indexer) attributes(m pcommon.Map) {
	for k, v := range m.All() {
		if k == spoolstamp.SeqAttribute {
			x.b.unindexed = appendNew(x.b.unindexed, k)
			continue
		}
		var s string
		switch v.Type() {
		case pcommon.ValueTypeStr:
			s = v.Str()
		case pcommon.ValueTypeInt:
			n := v.Int()
			c := x.cached(k)
			switch {
			case c == nil:
				x.add(x.hash.intKey(k, n))
			case c.digest == 0 || !c.isNum || c.num != n:
				*c = lastValue{key: k, num: n, isNum: true, digest: x.hash.intKey(k, n)}
				x.add(c.digest)
			}
			continue
		case pcommon.ValueTypeMap, pcommon.ValueTypeSlice, pcommon.ValueTypeBytes:
			x.b.unindexed = appendNew(x.b.unindexed, k)
			continue
		default:
			s = v.AsString()
		}
		if len(s) > maxIndexedValue {
			x.b.unindexed = appendNew(x.b.unindexed, k)
			continue
		}
		c := x.cached(k)
		switch {
		case c == nil:
			x.add(x.hash.key(k, s))
		case c.digest == 0 || c.isNum || c.str != s:
			*c = lastValue{key: k, str: s, digest: x.hash.key(k, s)}
			x.add(c.digest)
		}
	}
}

// appendNew appends s unless the (short) list has it already; a batch holds
// few distinct devices, fleets or unindexed keys, so a scan beats a map.
func appendNew(list []string, s string) []string {
	if len(list) < 64 && slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// segmentIndex accumulates an open segment's index.
type segmentIndex struct {
	filter    BloomFilter
	devices   map[string]struct{}
	fleets    map[string]struct{}
	severity  [plog.SeverityNumberFatal4 + 1]uint64
	untimed   uint64
	unindexed map[string]struct{}
}

func newSegmentIndex(maxSegmentSize int64) *segmentIndex {
	return &segmentIndex{
		filter:    BloomFilter{Hashes: bloomHashes, Bits: make([]byte, bloomBitsFor(maxSegmentSize)/8)},
		devices:   map[string]struct{}{},
		fleets:    map[string]struct{}{},
		unindexed: map[string]struct{}{},
	}
}

// add merges a batch into the index; it runs under the writer's lock.
func (s *segmentIndex) add(b *batchIndex) {
	for _, h := range b.keys {
		s.filter.add(h)
	}
	for _, d := range b.devices {
		s.devices[d] = struct{}{}
	}
	for _, f := range b.fleets {
		s.fleets[f] = struct{}{}
	}
	for i, n := range b.severity {
		s.severity[i] += n
	}
	s.untimed += b.untimed
	for _, k := range b.unindexed {
		s.unindexed[k] = struct{}{}
	}
}

// seal returns the index for the manifest of a segment of size bytes: the
// filter folded to about bloomBitsPerKey bits per distinct key, and to at
// most maxFilterShare of the segment.
func (s *segmentIndex) seal(size int64) *SegmentIndex {
	f := BloomFilter{Hashes: s.filter.Hashes, Bits: slices.Clone(s.filter.Bits)}
	keys := f.estimatedKeys()
	limit := float64(size) * 8 * maxFilterShare
	for len(f.Bits)*8 > minBloomBits {
		half := float64(len(f.Bits) * 4)
		if half < keys*bloomBitsPerKey && float64(len(f.Bits)*8) <= limit {
			break
		}
		f.fold()
	}
	ix := &SegmentIndex{
		DeviceCount: len(s.devices),
		FleetCount:  len(s.fleets),
		Severity:    map[string]uint64{},
		Untimed:     s.untimed,
		Filter:      f,
	}
	if len(s.devices) <= maxListedValues {
		ix.Devices = sortedKeys(s.devices)
	}
	if len(s.fleets) <= maxListedValues {
		ix.Fleets = sortedKeys(s.fleets)
	}
	for i, n := range s.severity {
		if n > 0 {
			ix.Severity[strconv.Itoa(i)] = n
		}
	}
	if len(s.unindexed) > 0 {
		ix.Unindexed = sortedKeys(s.unindexed)
	}
	return ix
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// MayMatch reports whether a record of the segment can match f's device,
// fleet, severity and attribute filters (not its time range, which the
// manifest's first_time and last_time bound, nor Contains).
func (ix *SegmentIndex) MayMatch(f *Filter) bool {
	if f.MinSeverity != 0 {
		found := false
		for k, n := range ix.Severity {
			if sev, err := strconv.Atoi(k); err != nil || (sev >= int(f.MinSeverity) && n > 0) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	var h keyHasher
	if f.Device != "" && !ix.mayHold(&h, DeviceAttribute, f.Device, ix.DeviceCount, ix.Devices) {
		return false
	}
	if f.Fleet != "" && !ix.mayHold(&h, FleetAttribute, f.Fleet, ix.FleetCount, ix.Fleets) {
		return false
	}
	for k, v := range f.Attrs {
		if slices.Contains(ix.Unindexed, k) {
			continue
		}
		if !ix.Filter.mayContain(h.key(k, v)) {
			return false
		}
	}
	return true
}

// mayHold checks a resource attribute against its exact list when the
// list is complete, else against the filter.
func (ix *SegmentIndex) mayHold(h *keyHasher, key, value string, count int, list []string) bool {
	if count <= len(list) {
		_, found := slices.BinarySearch(list, value)
		return found
	}
	if slices.Contains(ix.Unindexed, key) {
		return true
	}
	return ix.Filter.mayContain(h.key(key, value))
}

// countable reports whether, for a segment wholly inside f's time range, a
// manifest's index can count f's matches without reading the segment: f
// filters on nothing but time and severity.
func (f *Filter) countable() bool {
	return f.Device == "" && f.Fleet == "" && f.Contains == "" && len(f.Attrs) == 0
}

// countFromManifest counts f's matches from a manifest's record count or
// severity counts, when the segment lies wholly inside f's time range and
// f is countable; ok is false when the segment must be read.
func (f *Filter) countFromManifest(m *Manifest) (n uint64, ok bool) {
	ix := m.Index
	if ix == nil || !f.countable() {
		return 0, false
	}
	first, err1 := time.Parse(time.RFC3339Nano, m.FirstTime)
	last, err2 := time.Parse(time.RFC3339Nano, m.LastTime)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	if !f.Since.IsZero() && (first.Before(f.Since) || ix.Untimed > 0) {
		return 0, false // untimed records fall before any Since
	}
	if !f.Until.IsZero() && !last.Before(f.Until) {
		return 0, false
	}
	if f.MinSeverity == 0 {
		return m.Records, true
	}
	for k, c := range ix.Severity {
		sev, err := strconv.Atoi(k)
		if err != nil {
			return 0, false
		}
		if sev >= int(f.MinSeverity) {
			n += c
		}
	}
	return n, true
}
