// Command derp-load measures a DERP relay's forwarding throughput. It opens 2N clients with
// Tailscale's own DERP client (tailscale.com/derp/derphttp), pairs them up, and has each
// sender push fixed-size packets to its partner as fast as the relay takes them, while the
// partner counts what arrives. Each pair keeps at most -window packets unacknowledged (sent
// but not yet seen by the receiver) so that the relay's per-client queue limit, not the
// sender outrunning it, decides what gets dropped; a stalled window is written off as lost
// after -stall. It prints one JSON object (or a text line with -text).
//
// The same binary drives keel's relay and Tailscale's derper in bench/derp_relay_bench.sh, so
// client-side costs (TLS, framing, scheduling) are identical for both.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

type options struct {
	url      string
	pairs    int
	duration time.Duration
	warmup   time.Duration
	size     int
	window   int
	stall    time.Duration
	insecure bool
	meshKey  string
	text     bool
	verbose  bool
	idle     int
	hold     time.Duration
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.url, "url", "https://127.0.0.1:8443/derp", "DERP server URL (https:// or http://)")
	flag.IntVar(&o.pairs, "pairs", 1, "number of sender/receiver pairs (2N clients)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured interval")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before the measured interval")
	flag.IntVar(&o.size, "size", 1024, "packet payload bytes")
	flag.IntVar(&o.window, "window", 64, "max packets in flight per pair")
	flag.DurationVar(&o.stall, "stall", 50*time.Millisecond, "write a full window off as lost after this long without progress")
	flag.BoolVar(&o.insecure, "insecure", false, "trust whatever certificate the (loopback) server presents")
	flag.StringVar(&o.meshKey, "mesh-key", "", "optional 64-hex mesh key, sent by every client")
	flag.BoolVar(&o.text, "text", false, "print a text line instead of JSON")
	flag.BoolVar(&o.verbose, "v", false, "log the DERP client's messages")
	flag.IntVar(&o.idle, "idle", 0, "instead of traffic: connect this many clients, print a line, hold them idle for -hold")
	flag.DurationVar(&o.hold, "hold", 5*time.Second, "how long -idle keeps its clients connected")
	flag.Parse()
	if o.pairs < 1 || o.size < 1 || o.size > derp.MaxPacketSize || o.window < 1 {
		log.Fatalf("bad flags: need -pairs>=1, 1<=-size<=%d, -window>=1", derp.MaxPacketSize)
	}
	return o
}

// pinServerCert fetches the certificate the server presents and returns a pool holding just
// that leaf. tlsdial (which derphttp uses) refuses InsecureSkipVerify, but accepts extra roots,
// so trusting the leaf itself is how a self-signed loopback server gets through.
func pinServerCert(rawURL string) (*x509.CertPool, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host += ":443"
	}
	conn, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true, ServerName: u.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("fetching server certificate: %w", err)
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("server at %s presented no certificate", host)
	}
	pool := x509.NewCertPool()
	pool.AddCert(certs[0])
	return pool, nil
}

func newClients(o options, count int) ([]*derphttp.Client, error) {
	var roots *x509.CertPool
	if o.insecure && len(o.url) >= 8 && o.url[:8] == "https://" {
		var err error
		if roots, err = pinServerCert(o.url); err != nil {
			return nil, err
		}
	}
	var mesh key.DERPMesh
	if o.meshKey != "" {
		var err error
		if mesh, err = key.ParseDERPMesh(o.meshKey); err != nil {
			return nil, fmt.Errorf("-mesh-key: %w", err)
		}
	}
	logf := logger.Discard
	if o.verbose {
		logf = log.Printf
	}
	netMon := netmon.NewStatic()
	clients := make([]*derphttp.Client, count)
	for i := range clients {
		c, err := derphttp.NewClient(key.NewNode(), o.url, logf, netMon)
		if err != nil {
			return nil, err
		}
		if roots != nil {
			c.TLSConfig = &tls.Config{RootCAs: roots}
		}
		if o.meshKey != "" {
			c.MeshKey = mesh
		}
		clients[i] = c
	}
	return clients, nil
}

func connectAll(clients []*derphttp.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, len(clients))
	for _, c := range clients {
		go func() { errs <- c.Connect(ctx) }()
	}
	for range clients {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// pair is one sender/receiver couple. received is written by the receiver goroutine; the
// sender reads it to keep its window, and progress wakes a sender waiting on a full window.
type pair struct {
	src, dst  *derphttp.Client
	sent      atomic.Uint64
	received  atomic.Uint64
	progress  chan struct{}
	firstSeen chan struct{}
	firstOnce sync.Once
}

func (p *pair) receive(size int) {
	for {
		m, err := p.dst.Recv()
		if err != nil {
			return // closed at the end of the run
		}
		if pkt, ok := m.(derp.ReceivedPacket); ok && len(pkt.Data) == size {
			p.received.Add(1)
			p.firstOnce.Do(func() { close(p.firstSeen) })
			select {
			case p.progress <- struct{}{}:
			default:
			}
		}
	}
}

// send pushes packets until stop closes. written_off counts packets given up as lost so that
// a drop does not shrink the window forever.
func (p *pair) send(o options, stop <-chan struct{}, errs chan<- error) {
	pkt := make([]byte, o.size)
	dstKey := p.dst.SelfPublicKey()
	var writtenOff uint64
	stall := time.NewTimer(o.stall)
	defer stall.Stop()
	for {
		select {
		case <-stop:
			return
		default:
		}
		inFlight := p.sent.Load() - p.received.Load() - writtenOff
		if int64(inFlight) >= int64(o.window) {
			stall.Reset(o.stall)
			select {
			case <-stop:
				return
			case <-p.progress:
			case <-stall.C:
				writtenOff = p.sent.Load() - p.received.Load()
			}
			continue
		}
		if err := p.src.Send(dstKey, pkt); err != nil {
			errs <- err
			return
		}
		p.sent.Add(1)
	}
}

type result struct {
	URL          string  `json:"url"`
	Pairs        int     `json:"pairs"`
	Size         int     `json:"size"`
	Window       int     `json:"window"`
	Seconds      float64 `json:"seconds"`
	Sent         uint64  `json:"sent"`
	Received     uint64  `json:"received"`
	PktsPerSec   float64 `json:"pkts_per_sec"`
	MBPerSec     float64 `json:"mb_per_sec"` // received payload, 10^6 bytes
	DropPercent  float64 `json:"drop_percent"`
	SentAll      uint64  `json:"sent_all"`     // including warm-up and drain
	ReceivedAll  uint64  `json:"received_all"` // including warm-up and drain
	SendErrors   int     `json:"send_errors"`
	ConnectMilli int64   `json:"connect_ms"`
}

func totals(pairs []*pair) (sent, received uint64) {
	for _, p := range pairs {
		sent += p.sent.Load()
		received += p.received.Load()
	}
	return sent, received
}

// waitFirstPackets sends one packet per pair until each receiver has seen one, so the relay
// knows every destination before anything is timed.
func waitFirstPackets(pairs []*pair, size int) error {
	pkt := make([]byte, size)
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range pairs {
		for {
			if err := p.src.Send(p.dst.SelfPublicKey(), pkt); err != nil {
				return err
			}
			p.sent.Add(1)
			select {
			case <-p.firstSeen:
			case <-time.After(50 * time.Millisecond):
				if time.Now().After(deadline) {
					return fmt.Errorf("no packet got through within 10s")
				}
				continue
			}
			break
		}
	}
	return nil
}

func run(o options) (result, error) {
	res := result{URL: o.url, Pairs: o.pairs, Size: o.size, Window: o.window}
	clients, err := newClients(o, 2*o.pairs)
	if err != nil {
		return res, err
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	start := time.Now()
	if err := connectAll(clients); err != nil {
		return res, err
	}
	res.ConnectMilli = time.Since(start).Milliseconds()

	pairs := make([]*pair, o.pairs)
	for i := range pairs {
		pairs[i] = &pair{src: clients[2*i], dst: clients[2*i+1],
			progress: make(chan struct{}, 1), firstSeen: make(chan struct{})}
		go pairs[i].receive(o.size)
	}
	if err := waitFirstPackets(pairs, o.size); err != nil {
		return res, err
	}

	stop := make(chan struct{})
	errs := make(chan error, len(pairs))
	var senders sync.WaitGroup
	for _, p := range pairs {
		senders.Add(1)
		go func() { defer senders.Done(); p.send(o, stop, errs) }()
	}
	time.Sleep(o.warmup)
	sent0, recv0 := totals(pairs)
	t0 := time.Now()
	time.Sleep(o.duration)
	sent1, recv1 := totals(pairs)
	elapsed := time.Since(t0).Seconds()
	close(stop)
	senders.Wait()
	// Let packets already in the relay arrive before counting drops.
	time.Sleep(300 * time.Millisecond)
	sentAll, recvAll := totals(pairs)
	res.SendErrors = len(errs)
	res.SentAll, res.ReceivedAll = sentAll, recvAll

	res.Seconds = elapsed
	res.Sent = sent1 - sent0
	res.Received = recv1 - recv0
	res.PktsPerSec = float64(res.Received) / elapsed
	res.MBPerSec = res.PktsPerSec * float64(o.size) / 1e6
	if sentAll > 0 {
		res.DropPercent = 100 * float64(sentAll-min(recvAll, sentAll)) / float64(sentAll)
	}
	return res, nil
}

// holdIdle connects o.idle clients, prints one JSON line once all are up, and keeps them
// connected and silent for o.hold: what a relay pays for connections that carry nothing.
func holdIdle(o options) error {
	clients, err := newClients(o, o.idle)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	start := time.Now()
	if err := connectAll(clients); err != nil {
		return err
	}
	fmt.Printf("{\"idle\":%d,\"connect_ms\":%d}\n", o.idle, time.Since(start).Milliseconds())
	os.Stdout.Sync()
	time.Sleep(o.hold)
	return nil
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("derp-load: ")
	o := parseFlags()
	if o.idle > 0 {
		if err := holdIdle(o); err != nil {
			log.Fatal(err)
		}
		return
	}
	res, err := run(o)
	if err != nil {
		log.Fatal(err)
	}
	if o.text {
		fmt.Printf("pairs=%d sent=%d received=%d pkts/s=%.0f MB/s=%.1f drop=%.2f%% errors=%d\n",
			res.Pairs, res.Sent, res.Received, res.PktsPerSec, res.MBPerSec, res.DropPercent, res.SendErrors)
		return
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		log.Fatal(err)
	}
}
