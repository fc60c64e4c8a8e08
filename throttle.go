package main

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rate is a throttle rate as DRF writes it: "10/min" is 10 per minute. The
// zero rate is no limit.
type rate struct {
	n   int
	per time.Duration
}

func (r *rate) String() string {
	if r.n == 0 {
		return "0"
	}
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{"day", 24 * time.Hour}, {"hour", time.Hour}, {"min", time.Minute}, {"sec", time.Second}} {
		if r.per == p.d {
			return fmt.Sprintf("%d/%s", r.n, p.name)
		}
	}
	return fmt.Sprintf("%d/%s", r.n, r.per)
}

// Set reads "N/sec", "N/min", "N/hour" or "N/day" (only the period's first
// letter counts, as in DRF), or "0" for no limit.
func (r *rate) Set(s string) error {
	if s == "0" {
		*r = rate{}
		return nil
	}
	num, period, _ := strings.Cut(s, "/")
	n, err := strconv.Atoi(num)
	periods := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}
	if err != nil || n < 1 || period == "" || periods[period[0]] == 0 {
		return fmt.Errorf("want a rate such as 10/min, 30/hour or 0 (off), got %q", s)
	}
	*r = rate{n: n, per: periods[period[0]]}
	return nil
}

// limiter keeps, per key, the times of its recent events, as DRF's
// SimpleRateThrottle keeps a history, and says when a key is over its
// rate. It holds at most maxKeys keys, so that an attacker rotating
// addresses or usernames cannot grow it without bound: when full it drops
// the keys whose events have all left the window, then, if it must,
// arbitrary others.
type limiter struct {
	rate    rate
	maxKeys int
	mu      sync.Mutex
	events  map[string][]time.Time // oldest first, at most rate.n
}

const maxLimiterKeys = 65_536

func newLimiter(r rate) *limiter {
	return &limiter{rate: r, maxKeys: maxLimiterKeys, events: map[string][]time.Time{}}
}

// wait is how long key must wait before its next event is allowed; 0 if it
// may go now.
func (l *limiter) wait(key string, now time.Time) time.Duration {
	if l.rate.n == 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.recent(key, now)
	if len(ev) < l.rate.n {
		return 0
	}
	return l.rate.per - now.Sub(ev[0])
}

// hit records an event of key.
func (l *limiter) hit(key string, now time.Time) {
	if l.rate.n == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.recent(key, now)
	if ev == nil && len(l.events) >= l.maxKeys {
		l.shrink(now)
	}
	if len(ev) == l.rate.n {
		ev = ev[1:]
	}
	l.events[key] = append(ev, now)
}

// take records an event of key if it is allowed, and otherwise says how
// long to wait.
func (l *limiter) take(key string, now time.Time) time.Duration {
	if wait := l.wait(key, now); wait > 0 {
		return wait
	}
	l.hit(key, now)
	return 0
}

// recent drops key's events that have left the window and returns the rest.
func (l *limiter) recent(key string, now time.Time) []time.Time {
	ev := l.events[key]
	i := 0
	for i < len(ev) && now.Sub(ev[i]) >= l.rate.per {
		i++
	}
	if i == len(ev) {
		delete(l.events, key)
		return nil
	}
	return ev[i:]
}

// shrink makes room: first keys with nothing in the window, then, if the
// table is still over nine tenths full, arbitrary keys.
func (l *limiter) shrink(now time.Time) {
	for key := range l.events {
		l.recent(key, now)
	}
	for key := range l.events {
		if len(l.events) < l.maxKeys*9/10 {
			return
		}
		delete(l.events, key)
	}
}

// writeThrottled is DRF's 429.
func writeThrottled(w http.ResponseWriter, wait time.Duration) {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	unit := "seconds"
	if secs == 1 {
		unit = "second"
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeDetail(w, http.StatusTooManyRequests, fmt.Sprintf("Request was throttled. Expected available in %d %s.", secs, unit))
}

// throttleIP applies the per-address limit of one endpoint (each of
// register and login has its own budget, as DRF's scoped throttles do); it
// returns false after writing a 429.
func (s *server) throttleIP(w http.ResponseWriter, r *http.Request, scope string) bool {
	if wait := s.ipLimit.take(scope+" "+s.clientIP(r), s.now()); wait > 0 {
		writeThrottled(w, wait)
		return false
	}
	return true
}

// throttleFailures refuses every attempt on an account that has had too
// many failed password checks lately, right password or not; it returns
// false after writing a 429.
func (s *server) throttleFailures(w http.ResponseWriter, usernameKey string) bool {
	if wait := s.loginFailures.wait(usernameKey, s.now()); wait > 0 {
		writeThrottled(w, wait)
		return false
	}
	return true
}

// clientIP is the address the request came from: the connection's peer,
// or, when that peer is a trusted proxy, the right-most address in
// X-Forwarded-For that is not one.
func (s *server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return host
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	client := peer.String()
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(hops[i])
		if err != nil {
			return hops[i]
		}
		client = addr.Unmap().String()
		if !s.trusted(addr) {
			break
		}
	}
	return client
}

func (s *server) trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range s.trustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// prefixList is a flag value: comma-separated CIDRs, or single addresses.
type prefixList []netip.Prefix

func (p *prefixList) String() string {
	var out []string
	for _, x := range *p {
		out = append(out, x.String())
	}
	return strings.Join(out, ",")
}

func (p *prefixList) Set(s string) error {
	var list prefixList
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			addr, err := netip.ParseAddr(item)
			if err != nil {
				return fmt.Errorf("want CIDRs such as 10.0.0.0/8,127.0.0.1, got %q", item)
			}
			list = append(list, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		prefix, err := netip.ParsePrefix(item)
		if err != nil {
			return fmt.Errorf("want CIDRs such as 10.0.0.0/8,127.0.0.1, got %q", item)
		}
		list = append(list, prefix.Masked())
	}
	*p = list
	return nil
}
