// Package tunnel carries the tenant kube-apiserver's connections to kubelets, webhooks and
// aggregated APIs from the seed into a tenant's network, which the seed cannot route to.
//
// The apiserver keeps the egress-selector contract of upstream konnectivity
// (sigs.k8s.io/apiserver-network-proxy) in its HTTPConnect mode: for egress "cluster" it
// dials a Unix socket and sends `CONNECT host:port HTTP/1.1`. The Server listens on that
// socket beside the apiserver, in its pod, and on a TCP port for Agents, which run on every
// tenant worker (host network) and dial out to the Server through the published endpoint,
// with mutual TLS: the Server presents a certificate of the tenant CA naming the endpoint,
// and accepts only kubelet client certificates of the tenant CA (CN system:node:<name>, O
// system:nodes): an agent is its node. Each agent connection is a yamux session; every
// CONNECT becomes one stream to the agent chosen for the target, which dials it and pipes
// bytes both ways.
//
// # Identity
//
// The Server takes the agent's node from its certificate and refuses a hello that names
// another, an address the Node (looked up through ServerConfig.NodeAddresses) does not
// have, a CIDR outside ServerConfig.AgentCIDRs, and a second session of the node while the
// first answers a ping; one that does not is replaced. Limits bound what the public agents'
// port lets anyone hold.
//
// # Wire protocol
//
// After the TLS handshake the agent sends a hello frame (its id, the node addresses it
// serves and the CIDRs it may dial besides) and the server answers with a hello reply.
// Frames are a 4-byte big-endian length and a JSON document. Then both sides run yamux
// over the connection, the server as client: it opens a stream per CONNECT, writes a dial
// request frame (the target), and the agent answers with a dial reply frame (empty error
// once it dialed the target) before the stream carries the connection's bytes.
//
// # Routing
//
// A CONNECT for host:port goes to the agent whose node addresses include host; failing that, to an agent that announced a CIDR containing host (pod and
// service addresses, which any node reaches), in turn; failing that, when exactly one agent
// is connected, to that one, which still refuses what it may not dial. The Server answers
// 200 only once the agent dialed the target; 503 when no agent is connected, 502 with the
// reason otherwise.
//
// # Deny by default
//
// An Agent dials only its node's own addresses and the CIDRs it is configured with;
// anything else (other hosts of the customer's network, loopback, link-local metadata
// services) is refused, so the tunnel is no open proxy into the customer's network. A DNS
// name is resolved by the agent and the first allowed address is dialed, the one checked.
package tunnel
