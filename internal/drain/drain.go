// Package drain mines log templates online with a Drain-style fixed-depth
// parse tree (He et al., "Drain: An Online Log Parsing Approach with Fixed
// Depth Tree", ICWS 2017).
//
// A line is split into whitespace-separated tokens; a token that holds a
// digit (numbers, ids, hex, IP addresses, sizes, durations) is masked as
// "<*>" before anything else sees it. The tree's first level is the token
// count, the next Depth-2 levels are the leading tokens, and each leaf holds
// the templates of its lines. A line joins the leaf's most similar template
// when the share of equal tokens reaches Similarity (positions that differ
// become "<*>"), or starts a new template. Memory is bounded: a miner holds
// at most MaxTemplates templates, and once full it no longer learns (Add
// reports it) rather than evicting one that could then come back as "new".
//
// No package in the ecosystem that fleetlog already links mines templates
// online with a bound on memory, so this small one exists.
package drain // import "github.com/fleetlog/fleetlog/internal/drain"

import (
	"errors"
	"strings"
)

// Wildcard stands for a variable token in a template.
const Wildcard = "<*>"

// Defaults: the values the Drain benchmark uses for most systems.
const (
	DefaultDepth        = 4
	DefaultSimilarity   = 0.5
	DefaultMaxChildren  = 100
	DefaultMaxTemplates = 1000
	// maxTokens bounds the tokens considered per line: a multi-kilobyte
	// line is a template of its first maxTokens tokens.
	maxTokens = 128
)

// Config sets the shape of the tree.
type Config struct {
	// Depth is the tree depth, leaf included (default 4; at least 3).
	Depth int
	// Similarity is the share of equal tokens that joins a line to a
	// template (default 0.5; in (0, 1]).
	Similarity float64
	// MaxChildren bounds each inner node's children; further leading tokens
	// share the "<*>" child (default 100).
	MaxChildren int
	// MaxTemplates bounds the templates one miner holds (default 1000).
	MaxTemplates int
}

// Errors of Config.Validate.
var (
	ErrDepth        = errors.New("must be at least 3")
	ErrSimilarity   = errors.New("must be in (0, 1]")
	ErrMaxTemplates = errors.New("must be at least 1")
)

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Depth == 0 {
		c.Depth = DefaultDepth
	}
	if c.Similarity == 0 {
		c.Similarity = DefaultSimilarity
	}
	if c.MaxChildren == 0 {
		c.MaxChildren = DefaultMaxChildren
	}
	if c.MaxTemplates == 0 {
		c.MaxTemplates = DefaultMaxTemplates
	}
	return c
}

// Validate checks a config after WithDefaults.
func (c Config) Validate() error {
	switch {
	case c.Depth < 3:
		return errors.Join(errors.New("'depth'"), ErrDepth)
	case c.Similarity <= 0 || c.Similarity > 1:
		return errors.Join(errors.New("'similarity'"), ErrSimilarity)
	case c.MaxTemplates < 1 || c.MaxChildren < 1:
		return errors.Join(errors.New("'max_templates'"), ErrMaxTemplates)
	}
	return nil
}

// Template is a mined log template.
type Template struct {
	// ID numbers templates from 1 in the order a miner created them.
	ID     int
	Tokens []string
	// Count is how many lines joined the template.
	Count int64
}

// String is the template's text, tokens joined by single spaces.
func (t *Template) String() string { return strings.Join(t.Tokens, " ") }

type node struct {
	children  map[string]*node
	templates []*Template
}

// Miner is one tree. It is not safe for concurrent use.
type Miner struct {
	cfg   Config
	root  map[int]*node
	count int
	buf   []string
}

// New returns an empty miner; cfg's zero fields take their defaults.
func New(cfg Config) *Miner {
	return &Miner{cfg: cfg.WithDefaults(), root: map[int]*node{}}
}

// Len is the number of templates.
func (m *Miner) Len() int { return m.count }

// Full reports whether the miner holds MaxTemplates templates.
func (m *Miner) Full() bool { return m.count >= m.cfg.MaxTemplates }

// Tokens splits and masks a line as the miner does, appending to dst.
func Tokens(dst []string, line string) []string {
	for len(line) > 0 && len(dst) < maxTokens {
		i := 0
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		line = line[i:]
		if line == "" {
			break
		}
		j := 0
		digit := false
		for j < len(line) && !isSpace(line[j]) {
			if line[j] >= '0' && line[j] <= '9' {
				digit = true
			}
			j++
		}
		if digit {
			dst = append(dst, Wildcard)
		} else {
			dst = append(dst, line[:j])
		}
		line = line[j:]
	}
	return dst
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

// Add parses a line: it returns the template the line joined and whether
// that template is new. When the line matches no template and the miner is
// full, Add returns nil, false.
func (m *Miner) Add(line string) (*Template, bool) {
	m.buf = Tokens(m.buf[:0], line)
	toks := m.buf
	leaf := m.leaf(toks, false)
	if leaf != nil {
		if t := m.best(leaf, toks); t != nil {
			for i, tok := range toks {
				if t.Tokens[i] != tok && t.Tokens[i] != Wildcard {
					t.Tokens[i] = Wildcard
				}
			}
			t.Count++
			return t, false
		}
	}
	if m.Full() {
		return nil, false
	}
	leaf = m.leaf(toks, true)
	m.count++
	t := &Template{ID: m.count, Tokens: make([]string, len(toks)), Count: 1}
	for i, tok := range toks {
		// Cloned: a token is a slice of the caller's line.
		t.Tokens[i] = strings.Clone(tok)
	}
	leaf.templates = append(leaf.templates, t)
	return t, true
}

// Match returns the template a line would join, without learning.
func (m *Miner) Match(line string) *Template {
	m.buf = Tokens(m.buf[:0], line)
	if leaf := m.leaf(m.buf, false); leaf != nil {
		return m.best(leaf, m.buf)
	}
	return nil
}

// leaf walks (and, with create, builds) the path of toks.
func (m *Miner) leaf(toks []string, create bool) *node {
	n := m.root[len(toks)]
	if n == nil {
		if !create {
			return nil
		}
		n = &node{}
		m.root[len(toks)] = n
	}
	for d := 0; d < m.cfg.Depth-2 && d < len(toks); d++ {
		key := toks[d]
		if child, ok := n.children[key]; ok {
			n = child
			continue
		}
		if !create {
			if child, ok := n.children[Wildcard]; ok {
				n = child
				continue
			}
			return nil
		}
		// One child is kept for the wildcard, which takes every further
		// leading token once the node is full.
		if key != Wildcard && len(n.children) >= m.cfg.MaxChildren-1 {
			key = Wildcard
		}
		if n.children == nil {
			n.children = map[string]*node{}
		}
		child := n.children[key]
		if child == nil {
			child = &node{}
			n.children[key] = child
		}
		n = child
	}
	return n
}

// best is the leaf's most similar template at or above the threshold; ties
// go to the template with more wildcards, as in Drain.
func (m *Miner) best(leaf *node, toks []string) *Template {
	var (
		best          *Template
		bestSim       = -1.0
		bestWildcards = -1
	)
	for _, t := range leaf.templates {
		same, wild := 0, 0
		for i, tok := range toks {
			// A masked token against a wildcard counts as equal: masking
			// already decided that position is a variable.
			switch t.Tokens[i] {
			case tok:
				same++
				if tok == Wildcard {
					wild++
				}
			case Wildcard:
				wild++
			}
		}
		sim := 1.0
		if len(toks) > 0 {
			sim = float64(same) / float64(len(toks))
		}
		if sim > bestSim || (sim == bestSim && wild > bestWildcards) {
			best, bestSim, bestWildcards = t, sim, wild
		}
	}
	if best == nil || bestSim < m.cfg.Similarity {
		return nil
	}
	return best
}
