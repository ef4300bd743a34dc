package main

// topology decides which simulated nodes should see each other. With no groups every node
// sees every other (a full mesh). With groups, the first `servers` nodes are shared servers
// that everyone sees, and the rest are dealt round-robin into groups that only see their own
// members and the servers: the shape a policy of per-team rules plus shared services gives.
type topology struct {
	nodes   int
	groups  int
	servers int
}

func (t topology) isServer(i int) bool { return t.groups > 0 && i < t.servers }

// group is the index of i's group, or -1 for a server (and for everyone in a full mesh).
func (t topology) group(i int) int {
	if t.groups == 0 || t.isServer(i) {
		return -1
	}
	return (i - t.servers) % t.groups
}

func (t topology) visible(i, j int) bool {
	if i == j {
		return false
	}
	if t.groups == 0 || t.isServer(i) || t.isServer(j) {
		return true
	}
	return t.group(i) == t.group(j)
}

// groupSize counts the members of group g.
func (t topology) groupSize(g int) int {
	members := t.nodes - t.servers
	n := members / t.groups
	if g < members%t.groups {
		n++
	}
	return n
}

// expectedPeers is how many peers node i must end up with.
func (t topology) expectedPeers(i int) int {
	if t.groups == 0 || t.isServer(i) {
		return t.nodes - 1
	}
	return t.groupSize(t.group(i)) - 1 + t.servers
}

// keyIndex picks the auth key a node registers with: one per group, then one for the servers
// (the runner makes one user per group, so the policy can name groups by user).
func (t topology) keyIndex(i int) int {
	if t.groups == 0 {
		return 0
	}
	if t.isServer(i) {
		return t.groups
	}
	return t.group(i)
}
