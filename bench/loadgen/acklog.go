package main

// The acknowledgement log of tests/e2e/test_crash_consistency.py, which kills the server with
// SIGKILL while nodes join and then checks that nothing the server acknowledged was lost.
// With -ack-log, every registration the server answered as authorized is appended as
// "reg <nodekey>", and the first addresses a node's map stream gives it as
// "addr <nodekey> <ip>...". Each line is one write(2) to an O_APPEND file, so a line is in the
// file (for the test to read) as soon as the acknowledgement is known, and lines of
// concurrent nodes never interleave. -register-attempts gives nodes the patience to wait for
// a server that is being restarted.

import (
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"

	"github.com/valyala/fastjson"
)

var (
	ackLogPath = flag.String("ack-log", "",
		"append \"reg <nodekey>\" per acknowledged registration and \"addr <nodekey> <ips>\" per first address assignment")
	registerPatience = flag.Int("register-attempts", registerAttempts,
		"attempts a node makes to register (one a second) before it counts as failed")
)

type ackLog struct {
	f         *os.File
	mu        sync.Mutex
	addressed map[int]bool // nodes whose addresses are logged
}

var acks = &ackLog{addressed: map[int]bool{}}

// write appends one line; the file is opened on first use, after flag.Parse.
func (a *ackLog) write(line string) {
	if *ackLogPath == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		f, err := os.OpenFile(*ackLogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		a.f = f
	}
	if _, err := a.f.WriteString(line + "\n"); err != nil {
		log.Fatal(err)
	}
}

func (a *ackLog) registered(n *node) {
	a.write("reg " + n.nodeKey.Public().String())
}

// addresses logs the addresses of the node's own entry in a map message, once per node.
func (a *ackLog) addresses(n *node, self *fastjson.Value) {
	if *ackLogPath == "" {
		return
	}
	var ips []string
	for _, v := range self.GetArray("Addresses") {
		ips = append(ips, strings.SplitN(string(v.GetStringBytes()), "/", 2)[0])
	}
	if len(ips) == 0 {
		return
	}
	a.mu.Lock()
	done := a.addressed[n.idx]
	a.addressed[n.idx] = true
	a.mu.Unlock()
	if !done {
		a.write(fmt.Sprintf("addr %s %s", n.nodeKey.Public().String(), strings.Join(ips, " ")))
	}
}
