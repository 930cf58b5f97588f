package engine

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// NameResolver answers the addresses of a domain name. Conditions such as
// fd.sip.name = kubernetes.default.svc.cluster.local compare the
// connection's address with the answers, as Falco does.
type NameResolver interface {
	Lookup(name string) []netip.Addr
}

// Resolver is the resolver conditions compiled from now on use. The
// default asks the system's DNS in the background and caches the answers:
// evaluation never waits on the network, and matches start once the first
// answer is in.
var Resolver NameResolver = NewDNSCache(30 * time.Second)

// StaticResolver is a fixed name table, for tests and air-gapped nodes.
type StaticResolver map[string][]netip.Addr

// Lookup returns the table's addresses for name.
func (s StaticResolver) Lookup(name string) []netip.Addr { return s[name] }

// DNSCache resolves names in the background and keeps the answers for a
// time-to-live.
type DNSCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[string]*dnsEntry
}

type dnsEntry struct {
	addrs      []netip.Addr
	expires    time.Time
	refreshing bool
}

// NewDNSCache returns a cache refreshing each name every ttl.
func NewDNSCache(ttl time.Duration) *DNSCache {
	return &DNSCache{ttl: ttl, entries: map[string]*dnsEntry{}}
}

// Lookup returns the cached answers for name and schedules a refresh when
// they are stale. The first call for a name returns nothing.
func (d *DNSCache) Lookup(name string) []netip.Addr {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.entries[name]
	if e == nil {
		e = &dnsEntry{}
		d.entries[name] = e
	}
	if !e.refreshing && time.Now().After(e.expires) {
		e.refreshing = true
		go d.refresh(name, e)
	}
	return e.addrs
}

func (d *DNSCache) refresh(name string, e *dnsEntry) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", name)
	d.mu.Lock()
	defer d.mu.Unlock()
	e.refreshing = false
	e.expires = time.Now().Add(d.ttl)
	if err != nil {
		return // keep the last good answer
	}
	addrs := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		addrs[i] = ip.Unmap()
	}
	e.addrs = addrs
}

// dnsFields are the fields whose conditions compare an address with the
// answers for a domain name.
var dnsFields = map[string]bool{"fd.sip.name": true, "fd.cip.name": true, "fd.lip.name": true, "fd.rip.name": true}

// dnsMatcher matches an address against any of the names.
func dnsMatcher(names []string, negate bool) matcher {
	r := Resolver
	return func(v fieldsValue) bool {
		if !v.IP.IsValid() {
			return false
		}
		ip := v.IP.Unmap()
		for _, n := range names {
			for _, a := range r.Lookup(n) {
				if a == ip {
					return !negate
				}
			}
		}
		return negate
	}
}
