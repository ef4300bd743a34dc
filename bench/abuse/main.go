// Command abuse measures how much abusive clients slow down a well-behaved one on a keel
// control server. A few good nodes send endpoint updates (non-streaming map requests, as
// tailscaled does when its endpoints change) while holding a map stream, and time each round
// trip; first alone, then while one kind of abuse runs: slowloris half-open connections, a
// Noise handshake flood, an HTTP/2 request flood, a map request flood from one node, and
// map streams nobody reads. It prints p50/p99 per phase and the ratio to the baseline, and
// exits 1 when a phase breaks the bound: p99 <= factor * baseline p99 + slack.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"tailscale.com/control/controlhttp"
	"tailscale.com/control/ts2021"
	"tailscale.com/net/tsdial"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

type options struct {
	host, port string
	authKey    string
	good       int
	interval   time.Duration
	measure    time.Duration
	factor     float64
	slack      time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.host, "host", "127.0.0.1", "keel's address")
	flag.StringVar(&o.port, "port", "18080", "keel's HTTP port")
	flag.StringVar(&o.authKey, "authkey", "", "a reusable pre-auth key")
	flag.IntVar(&o.good, "good", 5, "well-behaved nodes measuring")
	flag.DurationVar(&o.interval, "interval", 200*time.Millisecond, "time between one good node's updates")
	flag.DurationVar(&o.measure, "measure", 6*time.Second, "measuring time per phase")
	flag.Float64Var(&o.factor, "factor", 2, "bound: p99 under abuse <= factor * baseline p99 + slack")
	flag.DurationVar(&o.slack, "slack", 20*time.Millisecond, "bound: see -factor")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "abuse:", err)
		os.Exit(2)
	}
}

// node is one simulated machine on its own Noise connection.
type node struct {
	machine key.MachinePrivate
	nodeKey key.NodePrivate
	disco   key.DiscoPrivate
	nc      *ts2021.Client
}

type bench struct {
	o         options
	serverKey key.MachinePublic
	url       string
}

func (b *bench) newNode() (*node, error) {
	n := &node{machine: key.NewMachine(), nodeKey: key.NewNode(), disco: key.NewDisco()}
	nc, err := ts2021.NewClient(ts2021.ClientOpts{
		ServerURL:    b.url,
		PrivKey:      n.machine,
		ServerPubKey: b.serverKey,
		Dialer:       tsdial.NewFromFuncForDebug(logger.Discard, (&net.Dialer{}).DialContext),
		Logf:         logger.Discard,
	})
	if err != nil {
		return nil, err
	}
	n.nc = nc
	return n, nil
}

func (n *node) post(ctx context.Context, path string, body any) (int, []byte, error) {
	resp, err := n.nc.Post(ctx, path, n.nodeKey.Public(), body)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

func (n *node) register(ctx context.Context, authKey, host string) error {
	req := tailcfg.RegisterRequest{
		Version:  tailcfg.CurrentCapabilityVersion,
		NodeKey:  n.nodeKey.Public(),
		Auth:     &tailcfg.RegisterResponseAuth{AuthKey: authKey},
		Hostinfo: &tailcfg.Hostinfo{Hostname: host, OS: "linux"},
	}
	status, body, err := n.post(ctx, "/machine/register", req)
	if err != nil {
		return err
	}
	var res tailcfg.RegisterResponse
	if status != 200 || json.Unmarshal(body, &res) != nil || !res.MachineAuthorized {
		return fmt.Errorf("register %s: %d %s", host, status, body)
	}
	return nil
}

func (n *node) mapRequest(stream bool, port uint16) tailcfg.MapRequest {
	return tailcfg.MapRequest{
		Version:   tailcfg.CurrentCapabilityVersion,
		NodeKey:   n.nodeKey.Public(),
		DiscoKey:  n.disco.Public(),
		Stream:    stream,
		OmitPeers: !stream,
		KeepAlive: stream,
		Compress:  "zstd",
		Endpoints: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port)},
		Hostinfo:  &tailcfg.Hostinfo{OS: "linux"},
	}
}

// openStream starts a map stream; with read, its body is drained until ctx ends.
func (n *node) openStream(ctx context.Context, read bool) error {
	resp, err := n.nc.Post(ctx, "/machine/map", n.nodeKey.Public(), n.mapRequest(true, 1))
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		return fmt.Errorf("map stream: %d", resp.StatusCode)
	}
	go func() {
		defer resp.Body.Close()
		if read {
			io.Copy(io.Discard, resp.Body)
		} else {
			<-ctx.Done()
		}
	}()
	return nil
}

// joinNodes registers count nodes named prefix-i.
func (b *bench) joinNodes(ctx context.Context, prefix string, count int) ([]*node, error) {
	var nodes []*node
	for i := 0; i < count; i++ {
		n, err := b.newNode()
		if err != nil {
			return nil, err
		}
		if err := n.register(ctx, b.o.authKey, fmt.Sprintf("%s-%d", prefix, i)); err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// measure has every good node send endpoint updates for o.measure and returns the round trips.
func (b *bench) measure(ctx context.Context, good []*node) ([]time.Duration, int) {
	var mu sync.Mutex
	var rtts []time.Duration
	failures := 0
	var wg sync.WaitGroup
	deadline := time.Now().Add(b.o.measure)
	for i, n := range good {
		wg.Add(1)
		go func(i int, n *node) {
			defer wg.Done()
			// Spread the nodes over the interval so their requests do not come in lockstep.
			time.Sleep(time.Duration(i) * b.o.interval / time.Duration(len(good)))
			tick := time.NewTicker(b.o.interval)
			defer tick.Stop()
			port := uint16(1000 + i*1000)
			for time.Now().Before(deadline) {
				port++
				start := time.Now()
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				status, _, err := n.post(rctx, "/machine/map", n.mapRequest(false, port))
				cancel()
				d := time.Since(start)
				mu.Lock()
				if err != nil || status != 200 {
					failures++
				} else {
					rtts = append(rtts, d)
				}
				mu.Unlock()
				<-tick.C
			}
		}(i, n)
	}
	wg.Wait()
	return rtts, failures
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p * float64(len(s)-1))
	return s[i]
}

// An abuse starts its clients and runs until ctx ends; it reports what it did.
type abuse struct {
	name  string
	start func(ctx context.Context, b *bench, stats *abuseStats) error
}

type abuseStats struct {
	attempts, refused atomic.Int64
}

func (s *abuseStats) String() string {
	return fmt.Sprintf("%d attempts, %d refused or dropped", s.attempts.Load(), s.refused.Load())
}

func run(o options) error {
	ctx := context.Background()
	b := &bench{o: o, url: "http://" + net.JoinHostPort(o.host, o.port)}
	if err := b.fetchServerKey(ctx); err != nil {
		return err
	}
	good, err := b.joinNodes(ctx, "good", o.good)
	if err != nil {
		return err
	}
	for _, n := range good {
		if err := n.openStream(ctx, true); err != nil {
			return err
		}
	}
	abuses := []abuse{
		{"baseline", nil},
		{"slowloris", slowloris},
		{"handshake flood", handshakeFlood},
		{"h2 stream flood", streamFlood},
		{"map request flood", mapFlood},
		{"slow readers", slowReaders},
	}
	fmt.Printf("%-18s %8s %9s %9s %8s %6s  %s\n", "phase", "samples", "p50", "p99", "ratio", "fails", "abuse")
	var base time.Duration
	broken := false
	for _, a := range abuses {
		actx, stop := context.WithCancel(ctx)
		stats := &abuseStats{}
		if a.start != nil {
			if err := a.start(actx, b, stats); err != nil {
				stop()
				return fmt.Errorf("%s: %w", a.name, err)
			}
			time.Sleep(time.Second) // let the abuse reach its steady state
		}
		rtts, fails := b.measure(ctx, good)
		stop()
		p50, p99 := percentile(rtts, 0.5), percentile(rtts, 0.99)
		if a.start == nil {
			base = p99
		}
		ratio := float64(p99) / float64(base)
		ok := p99 <= time.Duration(o.factor*float64(base))+o.slack && fails == 0 && len(rtts) > 0
		mark := ""
		if !ok {
			mark = "  BOUND BROKEN"
			broken = true
		}
		what := "-"
		if a.start != nil {
			what = stats.String()
		}
		fmt.Printf("%-18s %8d %9s %9s %7.2fx %6d  %s%s\n", a.name, len(rtts), p50.Round(10*time.Microsecond),
			p99.Round(10*time.Microsecond), ratio, fails, what, mark)
		time.Sleep(time.Second) // let the server shed the abuse before the next phase
	}
	fmt.Printf("bound: p99 under each abuse <= %.1f x baseline p99 (%s) + %s, and no failed request\n",
		o.factor, base.Round(10*time.Microsecond), o.slack)
	if broken {
		fmt.Println("RESULT: bound broken")
		os.Exit(1)
	}
	fmt.Println("RESULT: bound holds")
	return nil
}

func (b *bench) fetchServerKey(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/key?v=%d", b.url, tailcfg.CurrentCapabilityVersion), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var keys struct {
		PublicKey key.MachinePublic `json:"publicKey"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&keys); err != nil {
		return fmt.Errorf("/key: %w", err)
	}
	b.serverKey = keys.PublicKey
	return nil
}

// slowloris holds many connections that trickle a request header and never finish it,
// reconnecting whenever the server drops one.
func slowloris(ctx context.Context, b *bench, st *abuseStats) error {
	const conns = 1500
	addr := net.JoinHostPort(b.o.host, b.o.port)
	for i := 0; i < conns; i++ {
		go func() {
			for ctx.Err() == nil {
				st.attempts.Add(1)
				c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
				if err != nil {
					st.refused.Add(1)
					sleep(ctx, 100*time.Millisecond)
					continue
				}
				fmt.Fprintf(c, "POST /ts2021 HTTP/1.1\r\nHost: %s\r\n", addr)
				for ctx.Err() == nil {
					if _, err := fmt.Fprintf(c, "X-Slow: %d\r\n", time.Now().UnixNano()); err != nil {
						break
					}
					if !sleep(ctx, 2*time.Second) {
						break
					}
				}
				c.Close()
				st.refused.Add(1)
			}
		}()
	}
	return nil
}

// handshakeFlood upgrades to ts2021 and completes the Noise handshake with fresh machine keys,
// as fast as a few workers can, and then sends nothing on the connections.
func handshakeFlood(ctx context.Context, b *bench, st *abuseStats) error {
	const workers = 8
	for w := 0; w < workers; w++ {
		go func() {
			var held []io.Closer
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for ctx.Err() == nil {
				st.attempts.Add(1)
				d := controlhttp.Dialer{
					Hostname:        b.o.host,
					HTTPPort:        b.o.port,
					HTTPSPort:       controlhttp.NoPort,
					MachineKey:      key.NewMachine(),
					ControlKey:      b.serverKey,
					ProtocolVersion: uint16(tailcfg.CurrentCapabilityVersion),
					Dialer:          (&net.Dialer{}).DialContext,
					Logf:            logger.Discard,
				}
				dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				c, err := d.Dial(dctx)
				cancel()
				if err != nil {
					st.refused.Add(1)
					sleep(ctx, 10*time.Millisecond)
					continue
				}
				held = append(held, c)
			}
		}()
	}
	return nil
}

// streamFlood has one node keep many HTTP/2 requests in flight on its connection.
func streamFlood(ctx context.Context, b *bench, st *abuseStats) error {
	nodes, err := b.joinNodes(ctx, "streamflood", 1)
	if err != nil {
		return err
	}
	n := nodes[0]
	const inflight = 300
	for i := 0; i < inflight; i++ {
		go func() {
			for ctx.Err() == nil {
				st.attempts.Add(1)
				status, _, err := n.post(ctx, "/machine/update-health", struct{}{})
				if err != nil || status != 200 {
					st.refused.Add(1)
				}
			}
		}()
	}
	return nil
}

// mapFlood has one registered node send endpoint updates as fast as it can.
func mapFlood(ctx context.Context, b *bench, st *abuseStats) error {
	nodes, err := b.joinNodes(ctx, "mapflood", 1)
	if err != nil {
		return err
	}
	n := nodes[0]
	for w := 0; w < 16; w++ {
		go func(w int) {
			port := uint16(w * 4000)
			for ctx.Err() == nil {
				port++
				st.attempts.Add(1)
				status, _, err := n.post(ctx, "/machine/map", n.mapRequest(false, port))
				if err != nil || status != 200 {
					st.refused.Add(1)
				}
			}
		}(w)
	}
	return nil
}

// slowReaders open map streams and never read them, while the good nodes' updates keep
// producing deltas for every stream.
func slowReaders(ctx context.Context, b *bench, st *abuseStats) error {
	nodes, err := b.joinNodes(ctx, "slowreader", 20)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		st.attempts.Add(1)
		if err := n.openStream(ctx, false); err != nil {
			return err
		}
	}
	return nil
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
