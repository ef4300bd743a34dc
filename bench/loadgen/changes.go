package main

import (
	"github.com/valyala/fastjson"
	"sync"
	"sync/atomic"
	"time"
)

// change is one endpoint change: which node moved, when it told the server, and when each of
// the peers that should see it first did.
type change struct {
	node     int
	expected int

	mu      sync.Mutex
	sent    time.Time
	seen    []bool
	got     int
	last    time.Time
	arrived []time.Duration // per viewer, from sent
}

// changeLog holds the changes in order; a change is visible to noteEndpoints once published.
type changeLog struct {
	published atomic.Int64
	list      []*change
}

func newChangeLog(count int) *changeLog { return &changeLog{list: make([]*change, count)} }

// noteEndpoints records that viewer was told peer j's endpoints are eps.
func (r *run) noteEndpoints(viewer, j int, eps []*fastjson.Value, now time.Time) {
	for _, ep := range eps {
		k := changeNumber(ep.GetStringBytes())
		if k < 0 || int64(k) >= r.changes.published.Load() {
			continue
		}
		c := r.changes.list[k]
		if c.node != j || !r.topo.visible(viewer, j) {
			continue
		}
		c.mu.Lock()
		if !c.seen[viewer] {
			c.seen[viewer] = true
			c.got++
			c.last = now
			c.arrived = append(c.arrived, now.Sub(c.sent))
		}
		c.mu.Unlock()
	}
}

// complete reports whether every viewer has seen change c, and how long the last one took.
func (c *change) complete() (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got == c.expected, c.last.Sub(c.sent)
}
