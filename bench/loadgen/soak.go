package main

// Soak mode (-soak DURATION): the tailnet lives for DURATION with everything a real one does
// now and then, so that a runner watching the server (bench/soak/run.sh) can tell whether its
// memory, descriptors or CPU creep upwards. After the usual join storm of -nodes nodes:
//   - joins: fresh nodes register (a share of them with -soak-ephemeral-key) and stream;
//   - leaves: online nodes go away, closing their connections; an ephemeral one is left for
//     the server to clean up, the others are deleted through the REST API (-soak-delete of
//     them) or come back 30 to 90 s later with a new connection;
//   - endpoint changes: lite map updates, as in the changes phase;
//   - reconnects: a node drops its map stream and opens a new one on the same connection;
//   - policy flips: every -soak-policy-every the policy alternates between the files of
//     -soak-policies (PUT /api/v1/policy), giving every node a new packet filter.
// Joins and leaves keep the online count near -nodes. Peer bookkeeping (convergence) means
// nothing while nodes come and go; soak mode counts the operations and the errors instead.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tailscale.com/control/ts2021"
	"tailscale.com/net/tsdial"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

var (
	soakFor          = flag.Duration("soak", 0, "soak mode: churn the tailnet for this long after the join storm")
	soakJoins        = flag.Float64("soak-joins", 5, "soak: new nodes per minute")
	soakLeaves       = flag.Float64("soak-leaves", 10, "soak: nodes leaving per minute")
	soakDelete       = flag.Float64("soak-delete", 0.5, "soak: share of non-ephemeral leavers deleted through the API")
	soakEphemeralKey = flag.String("soak-ephemeral-key", "", "soak: pre-auth key for ephemeral joiners")
	soakEphemeral    = flag.Float64("soak-ephemeral", 0.5, "soak: share of joiners that are ephemeral")
	soakChanges      = flag.Float64("soak-changes", 60, "soak: endpoint changes per minute")
	soakReconnects   = flag.Float64("soak-reconnects", 20, "soak: map stream reconnects per minute")
	soakPolicyEvery  = flag.Duration("soak-policy-every", time.Minute, "soak: flip the policy this often")
	soakPolicies     = flag.String("soak-policies", "", "soak: two policy files, comma-separated, to alternate")
	soakAPIKey       = flag.String("api-key", "", "soak: API key for node deletion and policy flips")
)

// How far the online count may stray from -nodes before joins or leaves pause.
const (
	soakOverTarget  = 5
	soakUnderTarget = 25
)

// soakSlot is one node's life in the soak: whether it streams, and how to stop it.
type soakSlot struct {
	n         *node
	online    bool
	ephemeral bool
	gone      bool // deleted or left for the server to clean up: never comes back
	cancel    context.CancelFunc
	done      chan struct{}
	// Endpoint changes in flight on the node's connection: a leave waits for them before it
	// closes the connection, so a leave never fails a change of its own making.
	changes sync.WaitGroup
}

type soakCounts struct {
	Joins, JoinFailures, Leaves, Deleted, EphemeralLeft, Returns atomic.Int64
	Reconnects, Changes, PolicyFlips, APIFailures                atomic.Int64
}

type soak struct {
	r        *run
	ctx      context.Context
	mu       sync.Mutex
	slots    []*soakSlot
	next     int // first never-used slot
	online   int
	target   int // the online count joins and leaves aim for: the initial -nodes
	counts   soakCounts
	policies []string
	http     *http.Client
}

type soakResults struct {
	Label          string   `json:"label"`
	Nodes          int      `json:"nodes"`
	SoakSeconds    float64  `json:"soak_seconds"`
	JoinSeconds    float64  `json:"join_seconds"`
	InitialJoined  int      `json:"initial_joined"`
	Joins          int64    `json:"joins"`
	JoinFailures   int64    `json:"join_failures"`
	Leaves         int64    `json:"leaves"`
	Deleted        int64    `json:"deleted"`
	EphemeralLeft  int64    `json:"ephemeral_left"`
	Returns        int64    `json:"returns"`
	Reconnects     int64    `json:"reconnects"`
	Changes        int64    `json:"endpoint_changes"`
	PolicyFlips    int64    `json:"policy_flips"`
	APIFailures    int64    `json:"api_failures"`
	OnlineEnd      int      `json:"online_end"`
	Messages       int64    `json:"messages"`
	StreamDrops    int64    `json:"unexpected_stream_drops"`
	Errors         int      `json:"errors"`
	FirstErrors    []string `json:"first_errors,omitempty"`
	LoadgenCPUSecs float64  `json:"loadgen_cpu_seconds"`
}

// runSoak is main for -soak; it returns the exit code.
func runSoak(o options, serverKey key.MachinePublic) int {
	perMinute := func(rate float64) int { return int(rate*soakFor.Minutes()) + 1 }
	capacity := o.nodes + perMinute(*soakJoins) + 10
	r := &run{
		opts:      o,
		topo:      topology{nodes: capacity},
		serverKey: serverKey,
		byKey:     make(map[string]int, capacity),
		ids:       idIndex{m: make(map[int64]int, capacity)},
		changes:   newChangeLog(0),
	}
	r.opts.nodes = capacity // sizes each node's peer bitset
	s := &soak{r: r, target: o.nodes, http: &http.Client{Timeout: 30 * time.Second}}
	for i := 0; i < capacity; i++ {
		n, err := newNode(r, i)
		if err != nil {
			log.Fatal(err)
		}
		r.nodes = append(r.nodes, n)
		r.byKey[n.nodeKey.Public().String()] = i
		s.slots = append(s.slots, &soakSlot{n: n})
	}
	if *soakPolicies != "" {
		for _, path := range strings.Split(*soakPolicies, ",") {
			b, err := os.ReadFile(path)
			if err != nil {
				log.Fatal(err)
			}
			s.policies = append(s.policies, string(b))
		}
	}
	if (len(s.policies) > 0 || *soakDelete > 0) && *soakAPIKey == "" {
		log.Fatal("-soak with policy flips or deletions needs -api-key")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.ctx = ctx

	res := &soakResults{Label: o.label, Nodes: o.nodes}
	start := time.Now()
	res.InitialJoined = s.joinStorm(o)
	res.JoinSeconds = time.Since(start).Seconds()
	log.Printf("soak: %d/%d joined in %.1fs; churning for %s", res.InitialJoined, o.nodes, res.JoinSeconds, *soakFor)

	churnStart := time.Now()
	s.churn(*soakFor)
	res.SoakSeconds = time.Since(churnStart).Seconds()
	s.fill(res)
	// The results are written while the nodes still stream: a runner that stops sampling
	// when they appear has not seen the tailnet fall away.

	b, _ := json.MarshalIndent(res, "", "  ")
	os.Stdout.Write(append(b, '\n'))
	if o.jsonOut != "" {
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if res.InitialJoined < o.nodes || res.Errors > 0 {
		return 1
	}
	return 0
}

// joinStorm registers the first -nodes slots at -concurrency and starts their streams.
func (s *soak) joinStorm(o options) int {
	work := make(chan int)
	var wg sync.WaitGroup
	var joined atomic.Int64
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if s.register(i, o.keys[0]) {
					joined.Add(1)
				}
			}
		}()
	}
	for i := 0; i < o.nodes; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	s.mu.Lock()
	s.next = o.nodes
	s.mu.Unlock()
	return int(joined.Load())
}

// register signs slot i up with authKey (retrying like tailscaled) and brings it online.
func (s *soak) register(i int, authKey string) bool {
	n := s.slots[i].n
	err := n.register(s.ctx, authKey)
	for attempt := 1; err != nil && attempt < *registerPatience && s.ctx.Err() == nil; attempt++ {
		time.Sleep(time.Second)
		err = n.register(s.ctx, authKey)
	}
	if err != nil {
		s.r.noteError(fmt.Errorf("node %d: %w", i, err))
		return false
	}
	s.mu.Lock()
	s.startStream(s.slots[i])
	s.mu.Unlock()
	return true
}

// startStream opens slot's map stream; s.mu is held.
func (s *soak) startStream(slot *soakSlot) {
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan struct{})
	slot.cancel, slot.done = cancel, done
	if !slot.online {
		slot.online = true
		s.online++
	}
	go func() {
		defer close(done)
		slot.n.stream(ctx, s.r)
	}()
}

// stopStream ends slot's map stream and waits for its goroutine; s.mu is held.
func (s *soak) stopStream(slot *soakSlot) {
	slot.cancel()
	<-slot.done
}

// churn fires each kind of event at its rate until d has passed, printing a line a minute.
func (s *soak) churn(d time.Duration) {
	ctx, cancel := context.WithTimeout(s.ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	seed := s.r.opts.seed
	run := func(perMinute float64, event func(*rand.Rand)) {
		seed++
		if perMinute <= 0 {
			return
		}
		wg.Add(1)
		go func(rng *rand.Rand) {
			defer wg.Done()
			t := time.NewTicker(time.Duration(float64(time.Minute) / perMinute))
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					event(rng)
				}
			}
		}(rand.New(rand.NewSource(seed)))
	}
	run(*soakJoins, s.join)
	run(*soakLeaves, s.leave)
	run(*soakChanges, s.change)
	run(*soakReconnects, s.reconnect)
	if len(s.policies) > 0 && *soakPolicyEvery > 0 {
		run(float64(time.Minute)/float64(*soakPolicyEvery), s.flipPolicy)
	}
	run(1, func(*rand.Rand) {
		c := &s.counts
		s.mu.Lock()
		online := s.online
		s.mu.Unlock()
		log.Printf("soak: %d online; %d joins, %d leaves (%d deleted, %d ephemeral), %d returns, %d reconnects, %d changes, %d policy flips, %d errors",
			online, c.Joins.Load(), c.Leaves.Load(), c.Deleted.Load(), c.EphemeralLeft.Load(), c.Returns.Load(),
			c.Reconnects.Load(), c.Changes.Load(), c.PolicyFlips.Load(), s.errors())
	})
	wg.Wait()
}

func (s *soak) errors() int {
	s.r.errMu.Lock()
	defer s.r.errMu.Unlock()
	return s.r.errCount
}

// join registers a never-used slot, ephemeral for a share of them.
func (s *soak) join(rng *rand.Rand) {
	s.mu.Lock()
	if s.online >= s.target+soakOverTarget || s.next >= len(s.slots) {
		s.mu.Unlock()
		return
	}
	i := s.next
	s.next++
	slot := s.slots[i]
	authKey := s.r.opts.keys[0]
	if *soakEphemeralKey != "" && rng.Float64() < *soakEphemeral {
		slot.ephemeral, authKey = true, *soakEphemeralKey
	}
	s.mu.Unlock()
	go func() {
		if s.register(i, authKey) {
			s.counts.Joins.Add(1)
		} else {
			s.counts.JoinFailures.Add(1)
		}
	}()
}

// pickOnline returns a random online slot's index, or -1; s.mu is held.
func (s *soak) pickOnline(rng *rand.Rand) int {
	if s.online == 0 {
		return -1
	}
	for {
		i := rng.Intn(s.next)
		if s.slots[i].online {
			return i
		}
	}
}

// leave takes an online node away: its stream and connection close, and then the server
// cleans it up (ephemeral), an admin deletes it, or it comes back later.
func (s *soak) leave(rng *rand.Rand) {
	s.mu.Lock()
	if s.online <= s.target-soakUnderTarget {
		s.mu.Unlock()
		return
	}
	i := s.pickOnline(rng)
	if i < 0 {
		s.mu.Unlock()
		return
	}
	slot := s.slots[i]
	s.stopStream(slot)
	slot.online = false
	s.online--
	nc := slot.n.nc
	del := !slot.ephemeral && rng.Float64() < *soakDelete
	slot.gone = slot.ephemeral || del
	back := time.Duration(30+rng.Intn(61)) * time.Second
	s.mu.Unlock()
	slot.changes.Wait()
	nc.Close()
	s.counts.Leaves.Add(1)
	switch {
	case slot.ephemeral:
		s.counts.EphemeralLeft.Add(1)
	case del:
		go s.deleteNode(i)
	default:
		time.AfterFunc(back, func() { s.comeBack(i) })
	}
}

// comeBack brings a node that left back online on a new connection, as after a reboot.
func (s *soak) comeBack(i int) {
	if s.ctx.Err() != nil {
		return
	}
	nc, err := s.noiseClient(s.slots[i].n)
	if err != nil {
		s.r.noteError(err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot := s.slots[i]
	slot.n.nc = nc
	s.startStream(slot)
	s.counts.Returns.Add(1)
}

func (s *soak) noiseClient(n *node) (*ts2021.Client, error) {
	return ts2021.NewClient(ts2021.ClientOpts{
		ServerURL:    s.r.opts.url,
		PrivKey:      n.machine,
		ServerPubKey: s.r.serverKey,
		Dialer:       tsdial.NewFromFuncForDebug(logger.Discard, (&net.Dialer{}).DialContext),
		Logf:         logger.Discard,
	})
}

// nodeID is the server's ID for slot i, learnt from its own map.
func (s *soak) nodeID(i int) (int64, bool) {
	s.r.ids.mu.RLock()
	defer s.r.ids.mu.RUnlock()
	for id, j := range s.r.ids.m {
		if j == i {
			return id, true
		}
	}
	return 0, false
}

func (s *soak) deleteNode(i int) {
	id, ok := s.nodeID(i)
	if !ok {
		s.apiFailed(fmt.Errorf("delete node %d: its ID is unknown", i))
		return
	}
	if err := s.api(http.MethodDelete, fmt.Sprintf("/api/v1/node/%d", id), nil); err != nil {
		s.apiFailed(fmt.Errorf("delete node %d: %w", i, err))
		return
	}
	s.counts.Deleted.Add(1)
}

func (s *soak) change(rng *rand.Rand) {
	s.mu.Lock()
	i := s.pickOnline(rng)
	if i < 0 {
		s.mu.Unlock()
		return
	}
	slot := s.slots[i]
	n := slot.n
	slot.changes.Add(1)
	s.mu.Unlock()
	k := s.counts.Changes.Add(1)
	go func() {
		defer slot.changes.Done()
		ep := fmt.Sprintf("%s%d", changedHost, changePortBase+int(k%60000))
		if err := n.setEndpoint(s.ctx, ep); err != nil && s.ctx.Err() == nil {
			s.r.noteError(fmt.Errorf("endpoint change of node %d: %w", i, err))
		}
	}()
}

func (s *soak) reconnect(rng *rand.Rand) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.pickOnline(rng)
	if i < 0 {
		return
	}
	s.stopStream(s.slots[i])
	s.startStream(s.slots[i])
	s.counts.Reconnects.Add(1)
}

func (s *soak) flipPolicy(*rand.Rand) {
	k := s.counts.PolicyFlips.Load()
	body, _ := json.Marshal(map[string]string{"policy": s.policies[int(k)%len(s.policies)]})
	if err := s.api(http.MethodPut, "/api/v1/policy", body); err != nil {
		s.apiFailed(fmt.Errorf("policy flip: %w", err))
		return
	}
	s.counts.PolicyFlips.Add(1)
}

func (s *soak) apiFailed(err error) {
	s.counts.APIFailures.Add(1)
	s.r.noteError(err)
}

// api calls the server's REST API with the API key.
func (s *soak) api(method, path string, body []byte) error {
	req, err := http.NewRequestWithContext(s.ctx, method, s.r.opts.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+*soakAPIKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: http %d: %s", method, path, res.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}

func (s *soak) fill(res *soakResults) {
	c := &s.counts
	res.Joins, res.JoinFailures, res.Leaves = c.Joins.Load(), c.JoinFailures.Load(), c.Leaves.Load()
	res.Deleted, res.EphemeralLeft, res.Returns = c.Deleted.Load(), c.EphemeralLeft.Load(), c.Returns.Load()
	res.Reconnects, res.Changes, res.PolicyFlips = c.Reconnects.Load(), c.Changes.Load(), c.PolicyFlips.Load()
	res.APIFailures = c.APIFailures.Load()
	s.mu.Lock()
	res.OnlineEnd = s.online
	s.mu.Unlock()
	res.Messages = s.r.wire.messages.Load()
	res.StreamDrops = s.r.reconnects.Load()
	s.r.errMu.Lock()
	res.Errors, res.FirstErrors = s.r.errCount, s.r.firstErr
	s.r.errMu.Unlock()
	res.LoadgenCPUSecs = cpuSeconds()
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
