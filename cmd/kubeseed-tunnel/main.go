// Command kubeseed-tunnel carries a tenant kube-apiserver's connections to kubelets, webhooks
// and aggregated APIs into the tenant's network (package pkg/tunnel).
//
//	kubeseed-tunnel server --uds /etc/kubernetes/konnectivity/konnectivity.socket --bind :8132 \
//	    --cert tls.crt --key tls.key --ca ca.crt --health :8134 --apiserver https://127.0.0.1:6443 \
//	    --agent-cidrs 10.96.0.0/12,10.244.0.0/16 [--server-id $(POD_NAME) --server-count 2]
//	kubeseed-tunnel agent --server host:8132 --cert kubelet-client-current.pem --key kubelet-client-current.pem \
//	    --ca ca.crt --node-ip $(HOST_IP) --id $(NODE_NAME)
//	kubeseed-tunnel receive --file /snapshot/snapshot.db --wipe /var/lib/etcd/data
//	kubeseed-tunnel receive --file /snapshot/snapshot.db --write --size N --sha256 H < snapshot
//	kubeseed-tunnel wipe --dir /var/lib/etcd/data --done /var/lib/etcd/wiped
//
// The server runs beside the kube-apiserver, which dials its Unix socket through its egress
// selector (HTTPConnect); agents run on every tenant node and dial the server out. receive
// carries a snapshot into the pod that restores a tenant's etcd (receive.go): kubeseed's
// one image in the control plane is this one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kubeseed/kubeseed/pkg/tunnel"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], os.Stderr, log); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "kubeseed-tunnel: %v\n", err)
		os.Exit(1)
	}
}

const usage = "usage: kubeseed-tunnel server|agent|receive|wipe [flags] (-h for the flags)"

func run(ctx context.Context, args []string, stderr io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "server":
		o, err := parseServer(args[1:], stderr)
		if err != nil {
			return err
		}
		return runServer(ctx, o, log)
	case "agent":
		cfg, o, err := parseAgent(args[1:], stderr)
		if err != nil {
			return err
		}
		return runAgent(ctx, cfg, o, log)
	case "receive":
		o, err := parseReceive(args[1:], stderr)
		if err != nil {
			return err
		}
		return runReceive(ctx, o, os.Stdin, stderr)
	case "wipe":
		o, err := parseWipe(args[1:], stderr)
		if err != nil {
			return err
		}
		return runWipe(o, os.Getenv, stderr)
	default:
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
}

type serverOptions struct {
	uds, bind, health string
	cert, key, ca     string
	apiserver         string
	agentCIDRs        []netip.Prefix
	limits            tunnel.Limits
	dialTimeout       time.Duration
	id                string
	count             int
}

func parseServer(args []string, stderr io.Writer) (serverOptions, error) {
	var o serverOptions
	fs := flag.NewFlagSet("kubeseed-tunnel server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.uds, "uds", "/etc/kubernetes/konnectivity/konnectivity.socket", "Unix socket the kube-apiserver's egress selector dials (HTTPConnect).")
	fs.StringVar(&o.bind, "bind", ":8132", "Address agents connect to (TLS).")
	fs.StringVar(&o.health, "health", ":8134", "Address of /healthz and /metrics (plain HTTP); empty disables them.")
	fs.StringVar(&o.cert, "cert", "", "Serving certificate of the agent listener (PEM).")
	fs.StringVar(&o.key, "key", "", "Its private key (PEM).")
	fs.StringVar(&o.ca, "ca", "", "CA certificates agents' client certificates (their kubelets') and the apiserver's serving certificate must chain to (PEM).")
	fs.StringVar(&o.apiserver, "apiserver", "https://127.0.0.1:6443", "The tenant's kube-apiserver, where agents' Nodes are looked up with --cert and --key (a client certificate too; its user must get nodes).")
	var cidrs string
	fs.StringVar(&cidrs, "agent-cidrs", "", "Comma-separated CIDRs (the tenant's pod and Service networks) within which agents may announce the CIDRs they dial; empty refuses any.")
	fs.IntVar(&o.limits.Agents, "max-agents", 0, "Most agents connected at once (0: 5000).")
	fs.IntVar(&o.limits.Handshakes, "max-handshakes", 0, "Most agent connections not yet authenticated at once (0: 64).")
	fs.IntVar(&o.limits.StreamsPerAgent, "max-streams-per-agent", 0, "Most connections through one agent at once (0: 1024).")
	fs.IntVar(&o.limits.PendingPerAgent, "max-pending-per-agent", 0, "Most connections waiting for one agent's dial at once (0: 64).")
	fs.StringVar(&o.id, "server-id", "", "Name of this server replica (its pod's); empty means a random one.")
	fs.IntVar(&o.count, "server-count", 1, "How many server replicas run behind the address agents dial; each agent connects to all of them.")
	fs.DurationVar(&o.dialTimeout, "dial-timeout", 30*time.Second, "How long a CONNECT waits for an agent to dial its target.")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.cert == "" || o.key == "" || o.ca == "" || o.uds == "" || o.bind == "" {
		return o, errors.New("server: --uds, --bind, --cert, --key and --ca are required")
	}
	if o.count < 1 {
		return o, fmt.Errorf("--server-count must be at least 1, not %d", o.count)
	}
	for _, v := range splitList(cidrs) {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return o, fmt.Errorf("--agent-cidrs: %w", err)
		}
		o.agentCIDRs = append(o.agentCIDRs, p.Masked())
	}
	return o, nil
}

func runServer(ctx context.Context, o serverOptions, log *slog.Logger) error {
	tlsCfg, err := tunnel.ServerTLSConfig(o.cert, o.key, o.ca)
	if err != nil {
		return err
	}
	// The serving certificate is a client one too: its user reads Nodes in the tenant.
	clientCfg, err := tunnel.AgentTLSConfig(o.cert, o.key, o.ca, "")
	if err != nil {
		return err
	}
	nodes, err := tunnel.APINodeAddresses(o.apiserver, clientCfg)
	if err != nil {
		return err
	}
	s, err := tunnel.NewServer(tunnel.ServerConfig{
		TLS: tlsCfg, NodeAddresses: nodes, AgentCIDRs: o.agentCIDRs, Limits: o.limits,
		DialTimeout: o.dialTimeout, Logger: log, ID: o.id, Count: o.count,
	})
	if err != nil {
		return err
	}
	// A socket left by a previous container of the pod would refuse the listen.
	if err := os.Remove(o.uds); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the stale socket: %w", err)
	}
	uds, err := net.Listen("unix", o.uds)
	if err != nil {
		return err
	}
	// Only the pod's user (the kube-apiserver runs as the same one) may connect.
	if err := os.Chmod(o.uds, 0o600); err != nil {
		_ = uds.Close()
		return err
	}
	tcp, err := net.Listen("tcp", o.bind)
	if err != nil {
		_ = uds.Close()
		return err
	}
	errs := make(chan error, 3)
	go func() { errs <- s.ServeConnect(uds) }()
	go func() { errs <- s.ServeAgents(tcp) }()
	var hs *http.Server
	if o.health != "" {
		hl, err := net.Listen("tcp", o.health)
		if err != nil {
			_ = s.Close()
			return err
		}
		hs = &http.Server{Handler: s.HealthHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := hs.Serve(hl); !errors.Is(err, http.ErrServerClosed) {
				errs <- err
			}
		}()
	}
	log.Info("tunnel server running", "uds", o.uds, "agents", tcp.Addr().String(), "health", o.health)
	select {
	case <-ctx.Done():
		err = nil
	case err = <-errs:
	}
	if hs != nil {
		_ = hs.Close()
	}
	_ = s.Close()
	return err
}

type agentOptions struct {
	server, serverName string
	cert, key, ca      string
	nodeIPs, cidrs     string
	id                 string
	health             string
	maxStreams         int
}

func parseAgent(args []string, stderr io.Writer) (tunnel.AgentConfig, agentOptions, error) {
	var o agentOptions
	fs := flag.NewFlagSet("kubeseed-tunnel agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.server, "server", "", "The tunnel server, host:port: the tenant's endpoint host and tunnel port.")
	fs.StringVar(&o.serverName, "server-name", "", "Name the server's certificate must carry; empty means the --server host.")
	fs.StringVar(&o.cert, "cert", "", "Client certificate (PEM): the node's kubelet's (CN "+tunnel.NodeUserPrefix+"<node>, O "+tunnel.NodesGroup+"), re-read at each connection as the kubelet rotates it.")
	fs.StringVar(&o.key, "key", "", "Its private key (PEM); may be the same file.")
	fs.StringVar(&o.ca, "ca", "", "CA certificates the server's certificate must chain to (PEM).")
	fs.StringVar(&o.nodeIPs, "node-ip", "", "Comma-separated addresses of this node: the server routes them here.")
	fs.StringVar(&o.cidrs, "allowed-cidrs", "", "Comma-separated CIDRs the agent dials besides its node's addresses (e.g. the service and pod CIDRs); everything else is refused.")
	fs.StringVar(&o.id, "id", "", "This node's name, which the certificate must name; empty takes it from the certificate.")
	fs.IntVar(&o.maxStreams, "max-streams", 0, "Most connections carried at once (0: 1024).")
	fs.StringVar(&o.health, "health", "", "Address of /healthz (200 while connected); empty disables it.")
	if err := fs.Parse(args); err != nil {
		return tunnel.AgentConfig{}, o, err
	}
	if fs.NArg() > 0 {
		return tunnel.AgentConfig{}, o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.server == "" || o.cert == "" || o.key == "" || o.ca == "" || o.nodeIPs == "" {
		return tunnel.AgentConfig{}, o, errors.New("agent: --server, --cert, --key, --ca and --node-ip are required")
	}
	cfg := tunnel.AgentConfig{ServerAddress: o.server, ID: o.id, MaxStreams: o.maxStreams}
	for _, v := range splitList(o.nodeIPs) {
		ip, err := netip.ParseAddr(v)
		if err != nil {
			return cfg, o, fmt.Errorf("--node-ip: %w", err)
		}
		cfg.NodeIPs = append(cfg.NodeIPs, ip)
	}
	for _, v := range splitList(o.cidrs) {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return cfg, o, fmt.Errorf("--allowed-cidrs: %w", err)
		}
		cfg.AllowedCIDRs = append(cfg.AllowedCIDRs, p)
	}
	return cfg, o, nil
}

func runAgent(ctx context.Context, cfg tunnel.AgentConfig, o agentOptions, log *slog.Logger) error {
	tlsCfg, err := tunnel.AgentTLSConfig(o.cert, o.key, o.ca, o.serverName)
	if err != nil {
		return err
	}
	cfg.TLS = tlsCfg
	cfg.Logger = log
	a, err := tunnel.NewAgent(cfg)
	if err != nil {
		return err
	}
	if o.health != "" {
		hl, err := net.Listen("tcp", o.health)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			if !a.Connected() {
				http.Error(w, "not connected to the tunnel server", http.StatusServiceUnavailable)
				return
			}
			_, _ = io.WriteString(w, "ok\n")
		})
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(hl) }()
		defer hs.Close()
	}
	log.Info("tunnel agent running", "server", cfg.ServerAddress, "nodeIPs", cfg.NodeIPs, "allowedCIDRs", cfg.AllowedCIDRs)
	return a.Run(ctx)
}

func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
