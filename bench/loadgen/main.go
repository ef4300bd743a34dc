// Command loadgen simulates a tailnet of N nodes in one process to measure a control server.
// Every node has its own machine and node keys, speaks Tailscale's own transport
// (tailscale.com/control/ts2021: Noise IK, then HTTP/2), registers with a pre-auth key and
// holds a streaming zstd map poll, decoding every message and tracking its peers through
// Peers, PeersChanged, PeersRemoved and PeersChangedPatch.
//
// The run has phases: a join storm (registrations at -concurrency) until every node sees
// exactly the peers it should; then -changes endpoint changes at -change-rate per second,
// timed until every peer that should see each one has; then, with -idle, a quiet period. It
// reads the server's CPU time, resident memory and descriptors from /proc/<-server-pid>, and
// prints a table (and writes -json).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
)

// Attempts a node makes to register before it counts as failed (-register-attempts).
const registerAttempts = 5

type options struct {
	url         string
	nodes       int
	concurrency int
	groups      int
	servers     int
	keys        []string
	keysFile    string
	changes     int
	changeRate  float64
	idle        time.Duration
	timeout     time.Duration
	settle      time.Duration
	serverPID   int
	label       string
	jsonOut     string
	seed        int64
}

func parseFlags() options {
	var o options
	var keys string
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "control server URL")
	flag.IntVar(&o.nodes, "nodes", 50, "simulated nodes")
	flag.IntVar(&o.concurrency, "concurrency", 50, "registrations in flight during the join storm")
	flag.IntVar(&o.groups, "groups", 0, "partition into this many groups (0: full mesh)")
	flag.IntVar(&o.servers, "servers", 0, "with -groups: shared servers every node sees")
	flag.StringVar(&keys, "authkey", "", "reusable pre-auth key (full mesh)")
	flag.StringVar(&o.keysFile, "authkeys", "", "file of keys, one a line: one per group, then the servers' key")
	flag.IntVar(&o.changes, "changes", 50, "endpoint changes after convergence")
	flag.Float64Var(&o.changeRate, "change-rate", 10, "endpoint changes per second")
	flag.DurationVar(&o.idle, "idle", 0, "after the changes, measure this long with nothing changing")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up converging after this long")
	flag.DurationVar(&o.settle, "settle", 60*time.Second, "wait at most this long for changes to reach everyone")
	flag.IntVar(&o.serverPID, "server-pid", 0, "the server's pid, for CPU and memory from /proc")
	flag.StringVar(&o.label, "label", "", "name of the run, printed and stored")
	flag.StringVar(&o.jsonOut, "json", "", "write the results here as JSON")
	flag.Int64Var(&o.seed, "seed", 1, "picks which nodes change")
	flag.Parse()
	if keys != "" {
		o.keys = []string{keys}
	}
	if o.keysFile != "" {
		b, err := os.ReadFile(o.keysFile)
		if err != nil {
			log.Fatal(err)
		}
		o.keys = strings.Fields(string(b))
	}
	want := 1
	if o.groups > 0 {
		want = o.groups + 1
	}
	switch {
	case o.nodes < 2 || o.concurrency < 1:
		log.Fatal("need -nodes >= 2 and -concurrency >= 1")
	case o.groups < 0 || (o.groups > 0 && o.nodes-o.servers < o.groups):
		log.Fatal("-groups needs at least one node per group after the servers")
	case len(o.keys) != want:
		log.Fatalf("need %d auth key(s), got %d", want, len(o.keys))
	}
	return o
}

// run is one load generation: the nodes, the topology and everything measured.
type run struct {
	opts      options
	topo      topology
	serverKey key.MachinePublic
	nodes     []*node
	byKey     map[string]int
	ids       idIndex
	changes   *changeLog

	converged  atomic.Int64
	reconnects atomic.Int64
	wire       wireCounters

	errMu    sync.Mutex
	errCount int
	firstErr []string
}

func (r *run) learnID(id int64, idx int) {
	r.ids.mu.RLock()
	_, ok := r.ids.m[id]
	r.ids.mu.RUnlock()
	if !ok {
		r.ids.mu.Lock()
		r.ids.m[id] = idx
		r.ids.mu.Unlock()
	}
}

func (r *run) indexOfID(id int64) (int, bool) {
	r.ids.mu.RLock()
	defer r.ids.mu.RUnlock()
	j, ok := r.ids.m[id]
	return j, ok
}

func (r *run) noteError(err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.errCount++
	if len(r.firstErr) < 5 {
		r.firstErr = append(r.firstErr, err.Error())
	}
}

func fetchServerKey(url string) (key.MachinePublic, error) {
	res, err := http.Get(url + "/key?v=" + strconv.Itoa(int(tailcfg.CurrentCapabilityVersion)))
	if err != nil {
		return key.MachinePublic{}, err
	}
	defer res.Body.Close()
	var keys struct{ PublicKey key.MachinePublic }
	if res.StatusCode != 200 {
		return key.MachinePublic{}, fmt.Errorf("GET /key: %s", res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&keys); err != nil {
		return key.MachinePublic{}, err
	}
	if keys.PublicKey.IsZero() {
		return key.MachinePublic{}, errors.New("GET /key: no Noise key (TS2021 not served)")
	}
	return keys.PublicKey, nil
}

func main() {
	log.SetFlags(log.Ltime)
	o := parseFlags()
	sk, err := fetchServerKey(o.url)
	if err != nil {
		log.Fatal(err)
	}
	if *soakFor > 0 {
		os.Exit(runSoak(o, sk))
	}
	r := &run{
		opts:      o,
		topo:      topology{nodes: o.nodes, groups: o.groups, servers: o.servers},
		serverKey: sk,
		byKey:     make(map[string]int, o.nodes),
		ids:       idIndex{m: make(map[int64]int, o.nodes)},
		changes:   newChangeLog(o.changes),
	}
	for i := 0; i < o.nodes; i++ {
		n, err := newNode(r, i)
		if err != nil {
			log.Fatal(err)
		}
		r.nodes = append(r.nodes, n)
		r.byKey[n.nodeKey.Public().String()] = i
	}
	res := r.measure()
	res.print(os.Stdout)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if !res.Converged || (o.changes > 0 && res.ChangesComplete < o.changes) {
		os.Exit(1)
	}
}

// measure runs the phases in order and gathers the results.
func (r *run) measure() *results {
	o := r.opts
	res := &results{Label: o.label, URL: o.url, Nodes: o.nodes, Groups: o.groups, Servers: o.servers,
		Concurrency: o.concurrency, CapVer: int(tailcfg.CurrentCapabilityVersion)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	before, _ := sampleProc(o.serverPID)
	res.ServerRSSStartMiB = mib(before.rssKiB)
	start := time.Now()

	// Join storm.
	regLatency := make([]time.Duration, o.nodes)
	var regFailed, registered, regRetries atomic.Int64
	deadline := start.Add(o.timeout)
	var lastReg atomic.Int64
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				n := r.nodes[i]
				t0 := time.Now()
				// Like tailscaled, a node whose registration fails (e.g. its connection timed
				// out on a busy server) tries again; its latency counts every attempt.
				err := n.register(ctx, o.keys[r.topo.keyIndex(i)])
				for attempt := 1; err != nil && attempt < *registerPatience && time.Now().Before(deadline); attempt++ {
					regRetries.Add(1)
					time.Sleep(time.Second)
					err = n.register(ctx, o.keys[r.topo.keyIndex(i)])
				}
				regLatency[i] = time.Since(t0)
				if err != nil {
					regFailed.Add(1)
					r.noteError(fmt.Errorf("node %d: %w", i, err))
					continue
				}
				registered.Add(1)
				acks.registered(n)
				lastReg.Store(int64(time.Since(start)))
				go n.stream(ctx, r)
			}
		}()
	}
	// A line every 10 s while joining, so a long run shows where it is.
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				log.Printf("join: %d registered, %d converged, %d messages, %d peer entries",
					registered.Load(), r.converged.Load(), r.wire.messages.Load(), r.wire.entries.Load())
			}
		}
	}()
	for i := 0; i < o.nodes && time.Now().Before(deadline); i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	res.RegisterFailed = int(regFailed.Load())
	res.Registered = int(registered.Load())
	res.RegisterRetries = int(regRetries.Load())
	// Nodes never tried (the -timeout passed first) have no latency.
	regLatency = regLatency[:res.Registered+res.RegisterFailed]
	res.RegisterP50Ms = ms(percentile(regLatency, 0.5))
	res.RegisterP99Ms = ms(percentile(regLatency, 0.99))
	res.RegisterMaxMs = ms(percentile(regLatency, 1))
	res.JoinSeconds = time.Since(start).Seconds()

	for r.converged.Load() < int64(o.nodes) && time.Now().Before(deadline) && res.RegisterFailed == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	close(stopProgress)
	res.Converged = r.converged.Load() == int64(o.nodes)
	res.ConvergedNodes = int(r.converged.Load())
	res.ConvergeSeconds = time.Since(start).Seconds()
	res.ConvergeAfterLastRegSeconds = (time.Since(start) - time.Duration(lastReg.Load())).Seconds()
	joined, _ := sampleProc(o.serverPID)
	res.Join = r.phase(before, joined)
	log.Printf("join: %d/%d converged in %.1fs", res.ConvergedNodes, o.nodes, res.ConvergeSeconds)

	// Endpoint changes.
	if res.Converged && o.changes > 0 {
		r.runChanges(ctx, res)
		changed, _ := sampleProc(o.serverPID)
		res.Changes = r.phaseSince(joined, changed, res.Join)
		joined = changed
	}

	// Idle.
	if res.Converged && o.idle > 0 {
		msgs := r.wire.messages.Load()
		idleStart := time.Now()
		time.Sleep(o.idle)
		idled, _ := sampleProc(o.serverPID)
		res.IdleSeconds = time.Since(idleStart).Seconds()
		res.IdleCPUPercentOfCore = 100 * (idled.cpu - joined.cpu).Seconds() / res.IdleSeconds
		res.IdleMessages = r.wire.messages.Load() - msgs
		res.IdleKiBPerStream = float64(idled.rssKiB-before.rssKiB) / float64(o.nodes)
		res.ServerFDs = idled.fds
	}

	end, _ := sampleProc(o.serverPID)
	res.ServerCPUSeconds = (end.cpu - before.cpu).Seconds()
	res.ServerPeakRSSMiB = mib(end.peakKiB)
	res.ServerRSSEndMiB = mib(end.rssKiB)
	res.Messages = r.wire.messages.Load()
	res.KeepAlives = r.wire.keepAlives.Load()
	res.WireMiB = float64(r.wire.bytes.Load()) / (1 << 20)
	res.PlainMiB = float64(r.wire.plainBytes.Load()) / (1 << 20)
	res.PeerEntries = r.wire.entries.Load()
	if res.PeerEntries > 0 {
		res.MicrosPerEntry = res.ServerCPUSeconds * 1e6 / float64(res.PeerEntries)
	}
	res.Reconnects = r.reconnects.Load()
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.LoadgenCPUSeconds = float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	}
	r.errMu.Lock()
	res.Errors, res.FirstErrors = r.errCount, r.firstErr
	r.errMu.Unlock()
	return res
}

// runChanges sends the endpoint changes at the configured rate from nodes picked at random,
// then waits until each has reached every peer that should see it (or -settle passes).
func (r *run) runChanges(ctx context.Context, res *results) {
	o := r.opts
	rng := rand.New(rand.NewSource(o.seed))
	interval := time.Duration(float64(time.Second) / o.changeRate)
	var wg sync.WaitGroup
	next := time.Now()
	for k := 0; k < o.changes; k++ {
		j := rng.Intn(o.nodes)
		c := &change{node: j, expected: r.topo.expectedPeers(j), seen: make([]bool, o.nodes)}
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		c.sent = time.Now()
		r.changes.list[k] = c
		r.changes.published.Store(int64(k + 1))
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			if err := r.nodes[j].setEndpoint(ctx, fmt.Sprintf("%s%d", changedHost, changePortBase+k)); err != nil {
				r.noteError(fmt.Errorf("change %d: %w", k, err))
			}
		}(k)
	}
	wg.Wait()
	deadline := time.Now().Add(o.settle)
	for time.Now().Before(deadline) {
		done := 0
		for _, c := range r.changes.list {
			if ok, _ := c.complete(); ok {
				done++
			}
		}
		if done == o.changes {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var full, each []time.Duration
	for _, c := range r.changes.list {
		if ok, d := c.complete(); ok {
			res.ChangesComplete++
			full = append(full, d)
		}
		c.mu.Lock()
		each = append(each, c.arrived...)
		c.mu.Unlock()
	}
	res.ChangesSent = o.changes
	res.PropagationP50Ms = ms(percentile(full, 0.5))
	res.PropagationP99Ms = ms(percentile(full, 0.99))
	res.PropagationMaxMs = ms(percentile(full, 1))
	res.DeliveryP50Ms = ms(percentile(each, 0.5))
	res.DeliveryP99Ms = ms(percentile(each, 0.99))
	log.Printf("changes: %d/%d reached every peer; p99 %.0f ms", res.ChangesComplete, o.changes, res.PropagationP99Ms)
}

func (r *run) phase(a, b procSample) phaseFigures {
	return withCostPerEntry(phaseFigures{
		ServerCPUSeconds: (b.cpu - a.cpu).Seconds(),
		Messages:         r.wire.messages.Load(),
		PeerEntries:      r.wire.entries.Load(),
		WireMiB:          float64(r.wire.bytes.Load()) / (1 << 20),
	})
}

// phaseSince is phase for a later phase: the wire counters net of the earlier one.
func (r *run) phaseSince(a, b procSample, earlier phaseFigures) phaseFigures {
	p := r.phase(a, b)
	p.Messages -= earlier.Messages
	p.PeerEntries -= earlier.PeerEntries
	p.WireMiB -= earlier.WireMiB
	return withCostPerEntry(p)
}

func withCostPerEntry(p phaseFigures) phaseFigures {
	p.MicrosPerEntry = 0
	if p.PeerEntries > 0 {
		p.MicrosPerEntry = p.ServerCPUSeconds * 1e6 / float64(p.PeerEntries)
	}
	return p
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
