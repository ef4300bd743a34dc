package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/valyala/fastjson"
	"tailscale.com/control/ts2021"
	"tailscale.com/net/tsdial"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

// maxFrame bounds one compressed map message; a 10,000-peer full map is a few MiB.
const maxFrame = 64 << 20

// The endpoints a node starts with, and the ones an endpoint change sets: the port of a
// changed endpoint carries the change's number, so a viewer knows which change it has seen.
const (
	initialEndpoint = "198.51.100.1:41641"
	changedHost     = "192.0.2.1:"
	changePortBase  = 1024
)

var zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(256<<20))

// node is one simulated device: its keys, its Noise client, and what it knows of its peers.
type node struct {
	idx      int
	hostname string
	machine  key.MachinePrivate
	nodeKey  key.NodePrivate
	disco    key.DiscoPrivate
	nc       *ts2021.Client

	// Touched only by the node's stream goroutine.
	known       []uint64 // bitset over node indexes
	knownGood   int      // known peers that should be visible
	knownBad    int      // known peers that should not be
	isConverged bool
}

func newNode(r *run, idx int) (*node, error) {
	n := &node{
		idx:      idx,
		hostname: fmt.Sprintf("load-%d", idx),
		machine:  key.NewMachine(),
		nodeKey:  key.NewNode(),
		disco:    key.NewDisco(),
		known:    make([]uint64, (r.opts.nodes+63)/64),
	}
	nc, err := ts2021.NewClient(ts2021.ClientOpts{
		ServerURL:    r.opts.url,
		PrivKey:      n.machine,
		ServerPubKey: r.serverKey,
		Dialer:       tsdial.NewFromFuncForDebug(logger.Discard, (&net.Dialer{}).DialContext),
		Logf:         logger.Discard,
	})
	if err != nil {
		return nil, err
	}
	n.nc = nc
	return n, nil
}

func (n *node) hostinfo() *tailcfg.Hostinfo {
	return &tailcfg.Hostinfo{Hostname: n.hostname, OS: "linux", IPNVersion: "loadgen"}
}

// register posts a RegisterRequest with the auth key and fails unless the node is authorized.
func (n *node) register(ctx context.Context, authKey string) error {
	req := tailcfg.RegisterRequest{
		Version:  tailcfg.CurrentCapabilityVersion,
		NodeKey:  n.nodeKey.Public(),
		Hostinfo: n.hostinfo(),
		Auth:     &tailcfg.RegisterResponseAuth{AuthKey: authKey},
	}
	res, err := n.nc.Post(ctx, "/machine/register", n.nodeKey.Public(), req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("register: http %d: %.200s", res.StatusCode, strings.TrimSpace(string(body)))
	}
	var rr tailcfg.RegisterResponse
	if err := json.Unmarshal(body, &rr); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if rr.Error != "" || !rr.MachineAuthorized {
		return fmt.Errorf("register: not authorized (%q)", rr.Error)
	}
	return nil
}

func (n *node) mapRequest(endpoints []netip.AddrPort, stream bool) tailcfg.MapRequest {
	return tailcfg.MapRequest{
		Version:   tailcfg.CurrentCapabilityVersion,
		NodeKey:   n.nodeKey.Public(),
		DiscoKey:  n.disco.Public(),
		Hostinfo:  n.hostinfo(),
		Endpoints: endpoints,
		Compress:  "zstd",
		KeepAlive: stream,
		Stream:    stream,
		// A non-streaming request is the client's "lite" update: it stores the endpoints
		// without touching the stream.
		OmitPeers: !stream,
	}
}

// setEndpoint sends the update the client sends when its endpoints change.
func (n *node) setEndpoint(ctx context.Context, ep string) error {
	res, err := n.nc.Post(ctx, "/machine/map", n.nodeKey.Public(), n.mapRequest([]netip.AddrPort{netip.MustParseAddrPort(ep)}, false))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	if res.StatusCode != 200 {
		return fmt.Errorf("endpoint update: http %d", res.StatusCode)
	}
	return nil
}

// stream holds the node's map poll until ctx ends, reconnecting after an error.
func (n *node) stream(ctx context.Context, r *run) {
	for ctx.Err() == nil {
		err := n.streamOnce(ctx, r)
		if ctx.Err() != nil {
			return
		}
		r.reconnects.Add(1)
		r.noteError(fmt.Errorf("node %d map stream: %w", n.idx, err))
		time.Sleep(time.Second)
	}
}

func (n *node) streamOnce(ctx context.Context, r *run) error {
	res, err := n.nc.Post(ctx, "/machine/map", n.nodeKey.Public(), n.mapRequest([]netip.AddrPort{netip.MustParseAddrPort(initialEndpoint)}, true))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("http %d: %s", res.StatusCode, strings.TrimSpace(string(msg)))
	}
	br := bufio.NewReaderSize(res.Body, 4<<10)
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		size := binary.LittleEndian.Uint32(hdr[:])
		if size > maxFrame {
			return fmt.Errorf("map message of %d bytes", size)
		}
		if err := n.readMessage(r, br, int(size)); err != nil {
			return err
		}
	}
}

// Buffers and parsers are pooled, not held per node: a full map of a large tailnet is
// megabytes, and ten thousand idle nodes must not each keep one.
var (
	bufPool    sync.Pool // of *[]byte
	parserPool fastjson.ParserPool
)

func getBuf(size int) *[]byte {
	b, _ := bufPool.Get().(*[]byte)
	if b == nil {
		b = new([]byte)
	}
	if cap(*b) < size {
		*b = make([]byte, size)
	}
	*b = (*b)[:size]
	return b
}

func (n *node) readMessage(r *run, br io.Reader, size int) error {
	frame := getBuf(size)
	defer bufPool.Put(frame)
	if _, err := io.ReadFull(br, *frame); err != nil {
		return err
	}
	plain := getBuf(0)
	defer bufPool.Put(plain)
	var err error
	*plain, err = zdec.DecodeAll(*frame, (*plain)[:0])
	if err != nil {
		return fmt.Errorf("zstd: %w", err)
	}
	p := parserPool.Get()
	defer parserPool.Put(p)
	m, err := p.ParseBytes(*plain)
	if err != nil {
		return fmt.Errorf("map message: %w", err)
	}
	r.wire.messages.Add(1)
	r.wire.bytes.Add(int64(size) + 4)
	r.wire.plainBytes.Add(int64(len(*plain)))
	n.apply(r, m, time.Now())
	return nil
}

// apply folds one map message into the node's view and records what it measures. Only the
// fields measured are read: peers' ID, Key and Endpoints.
func (n *node) apply(r *run, m *fastjson.Value, now time.Time) {
	peers, changed := m.Get("Peers"), m.GetArray("PeersChanged")
	removed, patches := m.GetArray("PeersRemoved"), m.GetArray("PeersChangedPatch")
	self := m.Get("Node")
	if peers == nil && changed == nil && removed == nil && patches == nil && self == nil {
		if m.GetBool("KeepAlive") {
			r.wire.keepAlives.Add(1)
		}
		return
	}
	if self != nil {
		r.learnID(self.GetInt64("ID"), n.idx)
		acks.addresses(n, self)
	}
	if peers != nil {
		list, _ := peers.Array()
		r.wire.entries.Add(int64(len(list)))
		for i := range n.known {
			n.known[i] = 0
		}
		n.knownGood, n.knownBad = 0, 0
		for _, p := range list {
			n.addPeer(r, p, now)
		}
	}
	r.wire.entries.Add(int64(len(changed) + len(patches)))
	for _, p := range changed {
		n.addPeer(r, p, now)
	}
	for _, id := range removed {
		if j, ok := r.indexOfID(id.GetInt64()); ok {
			n.forget(r, j)
		}
	}
	for _, p := range patches {
		if j, ok := r.indexOfID(p.GetInt64("NodeID")); ok && p.Exists("Endpoints") {
			r.noteEndpoints(n.idx, j, p.GetArray("Endpoints"), now)
		}
	}
	n.updateConverged(r)
}

func (n *node) addPeer(r *run, p *fastjson.Value, now time.Time) {
	j, ok := r.byKey[string(p.GetStringBytes("Key"))]
	if !ok {
		// Not one of ours (or an unparsable key): it can never be expected.
		n.knownBad++
		return
	}
	r.learnID(p.GetInt64("ID"), j)
	if n.known[j/64]&(1<<(j%64)) == 0 {
		n.known[j/64] |= 1 << (j % 64)
		if r.topo.visible(n.idx, j) {
			n.knownGood++
		} else {
			n.knownBad++
		}
	}
	r.noteEndpoints(n.idx, j, p.GetArray("Endpoints"), now)
}

func (n *node) forget(r *run, j int) {
	if n.known[j/64]&(1<<(j%64)) == 0 {
		return
	}
	n.known[j/64] &^= 1 << (j % 64)
	if r.topo.visible(n.idx, j) {
		n.knownGood--
	} else {
		n.knownBad--
	}
}

func (n *node) updateConverged(r *run) {
	now := n.knownBad == 0 && n.knownGood == r.topo.expectedPeers(n.idx)
	if now != n.isConverged {
		n.isConverged = now
		if now {
			r.converged.Add(1)
		} else {
			r.converged.Add(-1)
		}
	}
}

// changeNumber reads the change number out of an endpoint a change set, or -1.
func changeNumber(ep []byte) int {
	port, ok := bytes.CutPrefix(ep, []byte(changedHost))
	if !ok {
		return -1
	}
	p, err := strconv.Atoi(string(port))
	if err != nil {
		return -1
	}
	return p - changePortBase
}

// wireCounters are totals over every node's stream.
type wireCounters struct {
	messages, keepAlives, bytes, plainBytes, entries atomic.Int64
}

// idIndex maps the server's node IDs to our node indexes, learnt from the peers we are sent
// (patches name peers by ID alone).
type idIndex struct {
	mu sync.RWMutex
	m  map[int64]int
}
