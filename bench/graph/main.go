// Command graph measures the follow-graph API of a running socialapi on a
// database filled by `socialapi seed`: follow and unfollow, the first and a
// deep page of the most-followed account's followers, and username search.
// It sends one request at a time over one kept-alive connection, so the
// latencies are the server's own, not queueing. It reads the database,
// read-only, only to pick users.
package main

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	_ "modernc.org/sqlite"
)

const (
	logins    = 50   // users logged in, whose tokens the requests take turns with
	prefixes  = 500  // users sampled beyond those, so that search prefixes come from many names
	pairCount = 1000 // follower and followee pairs to follow and unfollow
	pageSize  = 20
	deepPage  = 5000
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "graph:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	baseURL := fs.String("url", "http://127.0.0.1:8000", "`address` of a socialapi serving the seeded database")
	dbPath := fs.String("db", "", "the seeded database `file`, read to pick users")
	n := fs.Int("n", 2000, "`requests` per measurement")
	password := fs.String("password", "seed-Passw0rd!", "`password` of the seeded users (socialapi seed prints it)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *dbPath == "" || *n < 1 || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("want -db FILE, a positive -n and no arguments")
	}
	base, err := url.Parse(*baseURL)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}

	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: *dbPath}).EscapedPath()+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := readSample(ctx, db)
	if err != nil {
		return err
	}

	c := &client{base: base, http: &http.Client{Timeout: time.Minute}}
	start := time.Now()
	tokens := make(map[int64]string, logins)
	for _, u := range s.users[:min(logins, len(s.users))] {
		if tokens[u.id], err = c.login(ctx, u.name, *password); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "logged in %d users in %v\n", len(tokens), time.Since(start).Round(time.Millisecond))
	loggedIn := make([]int64, 0, len(tokens))
	for id := range tokens {
		loggedIn = append(loggedIn, id)
	}
	anyToken := func() string { return tokens[loggedIn[rand.IntN(len(loggedIn))]] }
	pairs, err := notFollowing(ctx, db, loggedIn, s.users)
	if err != nil {
		return err
	}

	first := c.path(fmt.Sprintf("/api/accounts/users/%d/followers/?page_size=%d", s.top, pageSize))
	start = time.Now()
	deep, page, err := c.walk(ctx, first, anyToken(), deepPage)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "walked to followers page %d of user %d in %v\n", page, s.top, time.Since(start).Round(time.Millisecond))

	get := func(target func() string) func() ([]byte, error) {
		return func() ([]byte, error) { return c.do(ctx, "GET", target(), anyToken()) }
	}
	// single alternates follow and unfollow of one pair at a time, so each
	// request is timed alone.
	var pending *pair
	single := func() ([]byte, error) {
		verb := "unfollow"
		if pending == nil {
			p := pairs[rand.IntN(len(pairs))]
			pending, verb = &p, "follow"
		} else {
			defer func() { pending = nil }()
		}
		id := strconv.FormatInt(pending.followee, 10)
		return c.do(ctx, "POST", c.path("/api/accounts/"+verb+"/"+id+"/"), tokens[pending.follower])
	}
	var results []result
	for _, m := range []struct {
		name, unit string
		op         func() ([]byte, error)
		check      func([]byte) error
	}{
		{"follow + unfollow of a random pair", "ops/s", func() ([]byte, error) {
			p := pairs[rand.IntN(len(pairs))]
			id := strconv.FormatInt(p.followee, 10)
			if _, err := c.do(ctx, "POST", c.path("/api/accounts/follow/"+id+"/"), tokens[p.follower]); err != nil {
				return nil, err
			}
			return c.do(ctx, "POST", c.path("/api/accounts/unfollow/"+id+"/"), tokens[p.follower])
		}, nil},
		{"one request of those (follow or unfollow)", "req/s", single, nil},
		{fmt.Sprintf("followers of user %d (%d of them), page 1", s.top, s.topFollowers), "req/s",
			get(func() string { return first }), checkPage},
		{fmt.Sprintf("followers of user %d, page %d", s.top, page), "req/s",
			get(func() string { return deep }), checkPage},
		{"search by a random 3-letter prefix", "req/s", get(func() string {
			return c.path("/api/accounts/users/?search=" + url.QueryEscape(s.prefixes[rand.IntN(len(s.prefixes))]))
		}), checkPage},
	} {
		r, err := measure(ctx, m.name, m.unit, *n, m.op, m.check)
		if err != nil {
			return err
		}
		results = append(results, r)
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "measurement\t%6s\t%10s\t%10s\t%12s\n", "n", "p50", "p99", "rate")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%6d\t%10s\t%10s\t%12s\n", r.name, len(r.times), ms(r.p(0.50)), ms(r.p(0.99)),
			fmt.Sprintf("%.0f %s", r.rate(), r.unit))
	}
	return tw.Flush()
}

type user struct {
	id   int64
	name string
}

// sample is what the benchmark takes from the database: random users, the
// search prefixes their names give, and the most-followed account.
type sample struct {
	users        []user
	prefixes     []string
	top          int64
	topFollowers int64
}

func readSample(ctx context.Context, db *sql.DB) (*sample, error) {
	s := &sample{}
	err := db.QueryRowContext(ctx, "SELECT id, followers_count FROM users ORDER BY followers_count DESC LIMIT 1").Scan(&s.top, &s.topFollowers)
	if err != nil {
		return nil, fmt.Errorf("most followed: %w", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT id, username FROM users ORDER BY random() LIMIT ?", logins+prefixes)
	if err != nil {
		return nil, fmt.Errorf("pick users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u user
		if err := rows.Scan(&u.id, &u.name); err != nil {
			return nil, fmt.Errorf("pick users: %w", err)
		}
		s.users = append(s.users, u)
		if r := []rune(u.name); len(r) >= 3 {
			s.prefixes = append(s.prefixes, string(r[:3]))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pick users: %w", err)
	}
	if len(s.users) < 2 || len(s.prefixes) == 0 {
		return nil, errors.New("the database has too few users: fill it with socialapi seed")
	}
	return s, nil
}

type pair struct{ follower, followee int64 }

// notFollowing picks pairs in which the follower does not follow the
// followee yet, so that each follow and unfollow leaves the graph as it
// found it.
func notFollowing(ctx context.Context, db *sql.DB, followers []int64, followees []user) ([]pair, error) {
	var pairs []pair
	for range 20 * pairCount {
		if len(pairs) == pairCount {
			break
		}
		p := pair{followers[rand.IntN(len(followers))], followees[rand.IntN(len(followees))].id}
		if p.follower == p.followee {
			continue
		}
		var follows bool
		err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM follows WHERE follower_id = ? AND followee_id = ?)",
			p.follower, p.followee).Scan(&follows)
		if err != nil {
			return nil, fmt.Errorf("pick pairs: %w", err)
		}
		if !follows && !slices.Contains(pairs, p) {
			pairs = append(pairs, p)
		}
	}
	if len(pairs) == 0 {
		return nil, errors.New("found no pair of users that do not follow each other")
	}
	return pairs, nil
}

// client sends the API requests.
type client struct {
	base *url.URL
	http *http.Client
}

func (c *client) path(p string) string { return strings.TrimSuffix(c.base.String(), "/") + p }

// do sends a request and returns the body of its 200 reply; any other
// status is an error. It reads the body to the end, so that the
// connection is kept for the next request.
func (c *client) do(ctx context.Context, method, target, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, http.NoBody)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %.300s", method, target, res.Status, body)
	}
	return body, nil
}

func (c *client) login(ctx context.Context, username, password string) (string, error) {
	in, _ := json.Marshal(map[string]string{"username": username, "password": password})
	req, err := http.NewRequestWithContext(ctx, "POST", c.path("/api/accounts/login/"), bytes.NewReader(in))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return "", fmt.Errorf("log in as %s: %w", username, err)
	}
	var out struct{ Token string }
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil || out.Token == "" {
		return "", fmt.Errorf("log in as %s: %s: %.300s", username, res.Status, body)
	}
	return out.Token, nil
}

// page is DRF's paginated list.
type page struct {
	Count   *int64            `json:"count"`
	Next    *string           `json:"next"`
	Results []json.RawMessage `json:"results"`
}

// parsePage reads a page of a list. Every list the benchmark reads has
// results, so an empty page is an error too.
func parsePage(body []byte) (*page, error) {
	var p page
	if err := json.Unmarshal(body, &p); err != nil || p.Count == nil || p.Results == nil {
		return nil, fmt.Errorf("not a paginated list: %.300s", body)
	}
	if len(p.Results) == 0 {
		return nil, fmt.Errorf("no results: %.300s", body)
	}
	return &p, nil
}

func checkPage(body []byte) error {
	_, err := parsePage(body)
	return err
}

// walk follows next links from the list page at first to page depth, or
// to the last page if there are fewer, and returns that page's address
// and number.
func (c *client) walk(ctx context.Context, first, token string, depth int) (string, int, error) {
	target, n := first, 1
	for n < depth {
		body, err := c.do(ctx, "GET", target, token)
		if err != nil {
			return "", 0, err
		}
		p, err := parsePage(body)
		if err != nil {
			return "", 0, fmt.Errorf("page %d: %w", n, err)
		}
		if p.Next == nil {
			break
		}
		next, err := c.base.Parse(*p.Next)
		if err != nil {
			return "", 0, fmt.Errorf("page %d: next %q: %w", n, *p.Next, err)
		}
		target, n = next.String(), n+1
	}
	return target, n, nil
}

// result is one measurement: how long each of its operations took.
type result struct {
	name, unit string
	times      []time.Duration
}

func (r result) p(q float64) time.Duration {
	sorted := slices.Clone(r.times)
	slices.SortFunc(sorted, cmp.Compare)
	return sorted[max(0, int(q*float64(len(sorted))+0.5)-1)]
}

// rate is operations per second of time spent waiting on the server.
func (r result) rate() float64 {
	var total time.Duration
	for _, t := range r.times {
		total += t
	}
	return float64(len(r.times)) / total.Seconds()
}

// measure runs op n times, one after the other, timing each. When check is
// not nil it validates each reply body that op returns, outside the timing.
func measure(ctx context.Context, name, unit string, n int, op func() ([]byte, error), check func([]byte) error) (result, error) {
	r := result{name: name, unit: unit, times: make([]time.Duration, 0, n)}
	for range n {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		t := time.Now()
		body, err := op()
		r.times = append(r.times, time.Since(t))
		if err == nil && check != nil {
			err = check(body)
		}
		if err != nil {
			return r, fmt.Errorf("%s: %w", name, err)
		}
	}
	return r, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
