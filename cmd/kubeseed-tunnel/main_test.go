package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseAgent(t *testing.T) {
	cfg, o, err := parseAgent([]string{
		"--server", "203.0.113.10:8132", "--cert", "c", "--key", "k", "--ca", "ca",
		"--node-ip", "10.0.0.5, fd00::5", "--allowed-cidrs", "10.96.0.0/12,10.244.0.0/16",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServerAddress != "203.0.113.10:8132" || o.cert != "c" ||
		!slices.Equal(cfg.NodeIPs, []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5")}) ||
		len(cfg.AllowedCIDRs) != 2 {
		t.Errorf("config %+v", cfg)
	}
	for _, args := range [][]string{
		{"--server", "h:1", "--cert", "c", "--key", "k", "--ca", "ca"},                                                    // no node IP
		{"--server", "h:1", "--cert", "c", "--key", "k", "--ca", "ca", "--node-ip", "node-1"},                             // not an IP
		{"--server", "h:1", "--cert", "c", "--key", "k", "--ca", "ca", "--node-ip", "1.2.3.4", "--allowed-cidrs", "10/8"}, // bad CIDR
		{"--server", "h:1", "--cert", "c", "--key", "k", "--ca", "ca", "--node-ip", "1.2.3.4", "extra"},
	} {
		if _, _, err := parseAgent(args, io.Discard); err == nil {
			t.Errorf("parseAgent(%q): no error", args)
		}
	}
}

func TestParseServer(t *testing.T) {
	o, err := parseServer([]string{"--cert", "c", "--key", "k", "--ca", "ca"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.uds != "/etc/kubernetes/konnectivity/konnectivity.socket" || o.bind != ":8132" || o.health != ":8134" ||
		o.apiserver != "https://127.0.0.1:6443" || len(o.agentCIDRs) != 0 {
		t.Errorf("defaults %+v", o)
	}
	o, err = parseServer([]string{"--cert", "c", "--key", "k", "--ca", "ca", "--agent-cidrs", "10.96.0.0/12, 10.244.1.0/16", "--max-streams-per-agent", "8"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("10.244.0.0/16")}; !slices.Equal(o.agentCIDRs, want) || o.limits.StreamsPerAgent != 8 {
		t.Errorf("--agent-cidrs %v (want %v), limits %+v", o.agentCIDRs, want, o.limits)
	}
	for _, args := range [][]string{
		{"--cert", "c"}, // no --key, --ca
		{"--cert", "c", "--key", "k", "--ca", "ca", "--agent-cidrs", "10.96.0.0"},
	} {
		if _, err := parseServer(args, io.Discard); err == nil {
			t.Errorf("parseServer(%q): no error", args)
		}
	}
}

func TestRunUsage(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	var out strings.Builder
	for _, args := range [][]string{nil, {"proxy"}} {
		if err := run(context.Background(), args, &out, log); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("run(%q) = %v, want usage", args, err)
		}
	}
	if err := run(context.Background(), []string{"server", "--cert", "/nonexistent", "--key", "/nonexistent", "--ca", "/nonexistent"}, &out, log); err == nil {
		t.Error("server with missing files: no error")
	}
}
